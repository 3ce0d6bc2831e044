//! Reading plugin settings (`[plugins.<name>]`) with errors that name the exact key and say
//! what a valid value looks like.

use std::time::Duration;

use serde::Deserialize;

/// How a duration setting is written, for error messages.
pub const DURATION_EXAMPLES: &str = "write a duration such as \"90s\", \"5m\" or \"1h 30m\"";

/// Parses a humantime duration such as `"5m"` or `"1h 30m"`; the error quotes the text and
/// shows examples.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); {DURATION_EXAMPLES}"))
}

/// `deserialize_with` for a duration setting that must be longer than zero (a timeout of
/// nothing would make a client never count as there), e.g.
/// `#[serde(deserialize_with = "openline_core::settings::positive_duration")]`.
pub fn positive_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    use serde::de::Error;
    let text = DurationText::deserialize(deserializer)?.0;
    match parse_duration(&text).map_err(D::Error::custom)? {
        duration if duration.is_zero() => Err(D::Error::custom(format!(
            "must be longer than zero; {DURATION_EXAMPLES}"
        ))),
        duration => Ok(duration),
    }
}

/// A duration's text, refusing anything but a string with the examples.
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as \"90s\", \"5m\" or \"1h 30m\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText(text.to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        #[serde(deserialize_with = "positive_duration")]
        timeout: Duration,
    }

    fn read(value: serde_json::Value) -> Result<Duration, String> {
        serde_json::from_value::<T>(value)
            .map(|t| t.timeout)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn durations_are_read_as_humans_write_them() {
        let json = |text: &str| serde_json::json!({ "timeout": text });
        assert_eq!(read(json("1m 30s")), Ok(Duration::from_secs(90)));
        assert_eq!(read(json("2h")), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn bad_durations_say_what_is_valid() {
        let err = read(serde_json::json!({"timeout": "two minutes"})).unwrap_err();
        assert!(
            err.starts_with("`two minutes` is not a duration ("),
            "{err}"
        );
        assert!(err.contains("\"90s\", \"5m\" or \"1h 30m\""), "{err}");
        let err = read(serde_json::json!({"timeout": "0s"})).unwrap_err();
        assert!(err.starts_with("must be longer than zero;"), "{err}");
        let err = read(serde_json::json!({"timeout": 120})).unwrap_err();
        assert!(
            err.contains("expected a duration string such as \"90s\""),
            "{err}"
        );
    }
}
