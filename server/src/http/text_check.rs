//! Refuses control characters in the text values of a JSON request body (SPEC R35a) — the
//! rule is [`openline_core::text`]'s; this is its fast path for request bodies.

use serde_json::Value;

/// Whether `bytes` (a JSON document) may contain a control character in some string: one
/// written as an escape (every JSON escape starts with a backslash), a raw DEL, or a raw C1
/// character (UTF-8 `C2 80`–`C2 9F`). Raw C0 characters are already refused by the JSON
/// parser. Most bodies have none of these, so they are not parsed twice.
fn may_hold_control(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'\\'
            || b == 0x7f
            || (b == 0xc2
                && bytes
                    .get(i + 1)
                    .is_some_and(|next| (0x80..=0x9f).contains(next)))
    })
}

/// The path of the first text value in `bytes` that holds a control character, with the
/// character described; `None` when there is none or the document is not JSON (its parser
/// then says what is wrong).
pub fn first_control_character(bytes: &[u8]) -> Option<(String, String)> {
    if !may_hold_control(bytes) {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    openline_core::text::first_control_character(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Option<(String, String)> {
        first_control_character(body.as_bytes())
    }

    #[test]
    fn names_the_field_holding_a_nul() {
        // SPEC R35a: the error names the field.
        assert_eq!(
            check(r#"{"id":"c1","customer":"cu\u0000st"}"#),
            Some(("customer".into(), "U+0000".into()))
        );
        assert_eq!(
            check(r#"{"signals":[{"a":"x"},{"fields":{"reason":"a\u001fb"}}]}"#),
            Some(("signals[1].fields.reason".into(), "U+001F".into()))
        );
    }

    #[test]
    fn only_bodies_that_may_hold_one_are_parsed_again() {
        assert!(!may_hold_control(br#"{"name":"plain","n":[1,2]}"#));
        assert!(!may_hold_control("{\"name\":\"é ü ©\"}".as_bytes()));
        assert!(may_hold_control(br#"{"name":"a\u0000"}"#));
        assert!(may_hold_control("{\"name\":\"a\u{7f}\"}".as_bytes()));
        assert!(may_hold_control("{\"name\":\"a\u{85}\"}".as_bytes()));
        // A C2 lead byte of an ordinary character (U+00A9 ©) is not a C1 character.
        assert!(!may_hold_control("©".as_bytes()));
    }

    #[test]
    fn escapes_of_ordinary_characters_pass() {
        assert_eq!(check(r#"{"name":"say \"hi\" \/ \u00e9"}"#), None);
        assert_eq!(check(r#"{"name":"plain"}"#), None);
    }

    #[test]
    fn raw_del_and_c1_characters_are_found_too() {
        assert_eq!(
            check("{\"name\":\"a\u{7f}\"}"),
            Some(("name".into(), "U+007F".into()))
        );
        assert_eq!(
            check("{\"name\":\"a\u{85}\"}"),
            Some(("name".into(), "U+0085".into()))
        );
    }

    #[test]
    fn only_a_top_level_text_may_span_lines() {
        // SPEC R35a: message `text` may hold tab and newline, nothing else may.
        assert_eq!(check(r#"{"text":"line one\n\tline two\r\n"}"#), None);
        assert_eq!(
            check(r#"{"text":"bell\u0007"}"#),
            Some(("text".into(), "U+0007".into()))
        );
        assert_eq!(
            check(r#"{"name":"two\nlines"}"#),
            Some(("name".into(), "U+000A".into()))
        );
        assert_eq!(
            check(r#"{"fields":{"text":"a\nb"}}"#),
            Some(("fields.text".into(), "U+000A".into()))
        );
    }

    #[test]
    fn a_control_character_in_a_key_is_refused() {
        assert_eq!(
            check(r#"{"settings":{"a\u0000":1}}"#),
            Some(("settings.a\\0".into(), "U+0000 in the key".into()))
        );
    }
}
