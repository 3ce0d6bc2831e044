//! The one clock durations elapse on (SPEC R18): the system clock, or a manual clock that
//! moves only when told to.

use std::sync::{Mutex, PoisonError};

use openline_core::Timestamp;

use crate::config::ClockMode;

/// The server's clock.
#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    manual: Mutex<Timestamp>,
}

/// A clock operation that the mode does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// Only a manual clock can be moved.
    #[error("the clock is in `system` mode; only a `manual` clock can be advanced")]
    NotManual,
    /// The step would leave the years 1970–9999 (SPEC R24d).
    #[error("`seconds`: advancing by {0} seconds would leave the years 1970 to 9999")]
    OutOfRange(u64),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            mode: ClockMode::System,
            manual: Mutex::new(chrono::Utc::now()),
        }
    }

    /// A manual clock standing at `start`.
    pub fn manual(start: Timestamp) -> Self {
        Self {
            mode: ClockMode::Manual,
            manual: Mutex::new(start),
        }
    }

    /// Which clock this is.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match self.mode {
            // Microseconds: what the store keeps, so an instant reads the same before and
            // after its conversation is archived.
            ClockMode::System => chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6),
            ClockMode::Manual => *self.manual.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// The instant a manual clock would show after `seconds` more, without moving it.
    pub fn peek_advance(&self, seconds: u64) -> Result<Timestamp, ClockError> {
        if self.mode != ClockMode::Manual {
            return Err(ClockError::NotManual);
        }
        let step = i64::try_from(seconds)
            .ok()
            .and_then(chrono::TimeDelta::try_seconds)
            .ok_or(ClockError::OutOfRange(seconds))?;
        self.now()
            .checked_add_signed(step)
            .filter(|to| openline_core::time::in_range(*to))
            .ok_or(ClockError::OutOfRange(seconds))
    }

    /// Moves a manual clock to `to` (never backwards).
    pub fn set(&self, to: Timestamp) -> Result<(), ClockError> {
        if self.mode != ClockMode::Manual {
            return Err(ClockError::NotManual);
        }
        let mut now = self.manual.lock().unwrap_or_else(PoisonError::into_inner);
        *now = (*now).max(to);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn r18_manual_clock_moves_only_when_told() {
        let start = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        let later = clock.peek_advance(300).unwrap();
        assert_eq!(clock.now(), start, "peeking does not move");
        clock.set(later).unwrap();
        assert_eq!((clock.now() - start).num_seconds(), 300);
        clock.set(start).unwrap();
        assert_eq!(clock.now(), later, "never backwards");
    }

    #[test]
    fn r24d_the_manual_clock_stays_within_the_year_9999() {
        let start = openline_core::time::parse_rfc3339("9999-12-31T23:59:00Z").unwrap();
        let clock = Clock::manual(start);
        assert!(clock.peek_advance(59).is_ok());
        assert_eq!(clock.peek_advance(60), Err(ClockError::OutOfRange(60)));
        assert_eq!(
            Clock::manual(chrono::Utc::now()).peek_advance(252_086_400_000),
            Err(ClockError::OutOfRange(252_086_400_000))
        );
    }

    #[test]
    fn r18_system_clock_cannot_be_advanced() {
        let clock = Clock::system();
        assert_eq!(clock.peek_advance(1), Err(ClockError::NotManual));
        assert_eq!(clock.set(chrono::Utc::now()), Err(ClockError::NotManual));
        assert_eq!(
            Clock::manual(chrono::Utc::now()).peek_advance(u64::MAX),
            Err(ClockError::OutOfRange(u64::MAX))
        );
    }
}
