//! One notion of time for the whole engine (SPEC R18): instants are UTC timestamps handed in
//! by the caller; the engine never reads a clock.

use std::time::Duration;

/// A signed span of time, for arithmetic on [`Timestamp`]s.
pub use chrono::TimeDelta;

/// An instant in UTC. Every engine operation receives the instant it happens at.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// `at + duration`, saturating at the far future instead of overflowing.
pub fn after(at: Timestamp, duration: Duration) -> Timestamp {
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// Formats an instant as `HH:MM:SS` (UTC) for human reason texts. Written out by hand: it
/// runs on every verdict, and chrono's strftime parses its pattern on each call.
pub fn clock_time(at: Timestamp) -> String {
    use chrono::Timelike as _;
    // chrono keeps a leap second as :59 with a nanosecond field of 1e9 or more.
    let second = at.second() + u32::from(at.nanosecond() >= 1_000_000_000);
    format!("{:02}:{:02}:{second:02}", at.hour(), at.minute())
}

/// The first year an instant may lie in (SPEC R24d).
pub const FIRST_YEAR: i32 = 1970;
/// The last year an instant may lie in (SPEC R24d): every instant stays a four-digit RFC 3339
/// year, so nothing stored can become unreadable.
pub const LAST_YEAR: i32 = 9999;

/// How far in the future a client's instant may be and still count as "now" (client clock
/// skew, SPEC R24d).
pub const ALLOWED_SKEW: Duration = Duration::from_secs(5);

/// Why a text is not an instant openline accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not RFC 3339.
    #[error("{0}")]
    Syntax(#[from] chrono::ParseError),
    /// Outside the years [`FIRST_YEAR`]..=[`LAST_YEAR`].
    #[error("the year must be from {FIRST_YEAR} to {LAST_YEAR}")]
    OutOfRange,
}

/// Whether `at` lies in the years openline accepts (SPEC R24d).
pub fn in_range(at: Timestamp) -> bool {
    use chrono::Datelike as _;
    (FIRST_YEAR..=LAST_YEAR).contains(&at.year())
}

/// Parses an RFC 3339 timestamp into UTC; the year must be from 1970 to 9999 (SPEC R24d).
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
    let at = chrono::DateTime::parse_from_rfc3339(text)?.with_timezone(&chrono::Utc);
    if in_range(at) {
        Ok(at)
    } else {
        Err(TimeError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r24d_instants_outside_1970_to_9999_are_refused() {
        assert!(parse_rfc3339("1970-01-01T00:00:00Z").is_ok());
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_ok());
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(TimeError::OutOfRange)
        );
        // 9999-12-31T23:59:59 at UTC-01:00 is in the year 10000 in UTC.
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59-01:00"),
            Err(TimeError::OutOfRange)
        );
        let err = parse_rfc3339("1960-01-01T00:00:00Z").unwrap_err();
        assert_eq!(err.to_string(), "the year must be from 1970 to 9999");
        assert!(matches!(parse_rfc3339("soon"), Err(TimeError::Syntax(_))));
    }

    #[test]
    fn after_saturates_instead_of_overflowing() {
        let far = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert_eq!(after(far, Duration::from_secs(10)), far);
    }

    #[test]
    fn clock_time_is_utc_hh_mm_ss() {
        let at = parse_rfc3339("2026-01-02T10:02:03+01:00").unwrap();
        assert_eq!(clock_time(at), "09:02:03");
        let leap_second = parse_rfc3339("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(
            clock_time(leap_second),
            "23:59:60",
            "as chrono's %S prints it"
        );
    }
}
