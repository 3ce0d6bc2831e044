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
