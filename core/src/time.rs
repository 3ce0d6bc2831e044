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

/// Parses an RFC 3339 timestamp into UTC.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, chrono::ParseError> {
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

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
