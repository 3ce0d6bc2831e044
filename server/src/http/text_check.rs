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
    fn r35a_a_body_is_checked_by_the_core_rule() {
        // The rule itself is tested in `openline_core::text`.
        assert_eq!(
            first_control_character(br#"{"id":"c1","customer":"cu\u0000st"}"#),
            Some(("customer".into(), "U+0000".into()))
        );
        assert_eq!(
            first_control_character("{\"name\":\"del\u{7f}\"}".as_bytes()),
            Some(("name".into(), "U+007F".into()))
        );
        assert_eq!(
            first_control_character(br#"{"text":"a\nb","x":"\"q\""}"#),
            None
        );
        assert_eq!(first_control_character(br#"{"broken":"\u0000"#), None);
    }
}
