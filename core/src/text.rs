//! Text values never hold control characters (SPEC R35a): a NUL in a customer id once made
//! every later archive commit on PostgreSQL fail and the server exit at each start. Every
//! string and object key of a JSON document is checked; only a top-level `text` (a
//! message) may hold a tab or a line break.

use serde_json::Value;

/// Keys whose value is free text that may span lines (a message's `text`).
const MULTILINE_KEYS: &[&str] = &["text"];

/// The path of the first text value in `value` that holds a control character (`customer`,
/// `signals[2].fields.reason`), with the character described (`U+0000`).
pub fn first_control_character(value: &Value) -> Option<(String, String)> {
    find_in(value, String::new(), false)
}

/// Describes a control character for an error message (`U+0000`).
fn describe(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

fn offending(text: &str, multiline: bool) -> Option<char> {
    text.chars()
        .find(|&c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

fn find_in(value: &Value, path: String, multiline: bool) -> Option<(String, String)> {
    match value {
        Value::String(text) => offending(text, multiline).map(|c| (path, describe(c))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_in(item, format!("{path}[{i}]"), false)),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if let Some(c) = offending(key, false) {
                let shown = if path.is_empty() {
                    key.escape_debug().to_string()
                } else {
                    format!("{path}.{}", key.escape_debug())
                };
                return Some((shown, format!("{} in the key", describe(c))));
            }
            let multiline = path.is_empty() && MULTILINE_KEYS.contains(&key.as_str());
            find_in(item, inner, multiline)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn check(json: &str) -> Option<(String, String)> {
        first_control_character(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn r35a_names_the_path_of_the_first_control_character() {
        assert_eq!(
            check(r#"{"id":"c1","customer":"cu\u0000st"}"#),
            Some(("customer".into(), "U+0000".into()))
        );
        assert_eq!(
            check(r#"{"signals":[{"a":"x"},{"fields":{"reason":"a\u001fb"}}]}"#),
            Some(("signals[1].fields.reason".into(), "U+001F".into()))
        );
        assert_eq!(
            check(r#"[{"a":"ok"},"del\u007f"]"#),
            Some(("[1]".into(), "U+007F".into()))
        );
        assert_eq!(
            check(r#"{"name":"é \" / ok","n":1,"b":true,"z":null}"#),
            None
        );
    }

    #[test]
    fn r35a_only_a_top_level_text_may_span_lines() {
        assert_eq!(check(r#"{"text":"one\n\ttwo\r\n"}"#), None);
        assert_eq!(
            check(r#"{"text":"bell\u0007"}"#),
            Some(("text".into(), "U+0007".into()))
        );
        assert_eq!(
            check(r#"{"name":"two\nlines"}"#),
            Some(("name".into(), "U+000A".into()))
        );
        assert_eq!(
            check(r#"{"fields":{"text":"a\tb"}}"#),
            Some(("fields.text".into(), "U+0009".into()))
        );
        assert_eq!(
            check(r#"[{"text":"a\nb"}]"#),
            Some(("[0].text".into(), "U+000A".into()))
        );
    }

    #[test]
    fn r35a_a_control_character_in_a_key_is_named_escaped() {
        assert_eq!(
            check(r#"{"settings":{"a\u0000":1}}"#),
            Some(("settings.a\\0".into(), "U+0000 in the key".into()))
        );
        assert_eq!(
            check(r#"{"a\u0001":1}"#),
            Some(("a\\u{1}".into(), "U+0001 in the key".into()))
        );
    }
}
