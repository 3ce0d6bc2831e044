//! Small helpers shared by presence sources (SPEC R6–R8 and custom ones):
//! a client counts as there until "last seen + timeout", and says so in words.
//!
//! Boundary convention (every presence source uses it): a window that ends at `end` is
//! **online at `end - 1s` and offline at `end`**, and the online verdict's `until` is exactly
//! `end`. Presence sources answer only `online` or `offline`, never `block` or `grant`.

use std::time::Duration;

use crate::time::{Timestamp, after, clock_time};
use crate::verdict::Verdict;

/// `online` while `now` is before `end`, with `until = end`; `offline` from `end` on.
///
/// `what` describes the client's state, e.g. "app in background since 10:02:00"; the
/// reason becomes "`what`, offline at 10:07:00" while online and "`what`, offline since
/// 10:07:00" once the window has closed (then `until` is `None`: nothing changes by itself).
pub fn online_until(now: Timestamp, end: Timestamp, what: &str) -> Verdict {
    if now < end {
        Verdict::online(format!("{what}, offline at {}", clock_time(end))).until(end)
    } else {
        Verdict::offline(format!("{what}, offline since {}", clock_time(end)))
    }
}

/// [`online_until`] for a window that opened at `since` and lasts `lasts`
/// (`end = since + lasts`, saturating far in the future).
pub fn online_for(now: Timestamp, since: Timestamp, lasts: Duration, what: &str) -> Verdict {
    online_until(now, after(since, lasts), what)
}

/// The verdict before a client has sent anything for the agent: `offline`,
/// "no `client` session seen" (e.g. "no pager session seen"). It never changes by itself.
pub fn never_seen(client: &str) -> Verdict {
    Verdict::offline(format!("no {client} session seen"))
}

/// The verdict after the client said it closed at `at`: `offline` at once,
/// "`client` closed at 10:05:00". It never changes by itself.
pub fn closed(client: &str, at: Timestamp) -> Verdict {
    Verdict::offline(format!("{client} closed at {}", clock_time(at)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_util::t;
    use crate::verdict::VerdictKind;

    #[test]
    fn r7_window_is_online_one_second_before_its_end_and_offline_at_it() {
        let before = online_for(t(299), t(0), Duration::from_secs(300), "app in background");
        assert_eq!(before.kind, VerdictKind::Online);
        assert_eq!(before.until, Some(t(300)));
        assert_eq!(before.reason, "app in background, offline at 00:05:00");
        let at_end = online_for(t(300), t(0), Duration::from_secs(300), "app in background");
        assert_eq!(at_end.kind, VerdictKind::Offline);
        assert_eq!(at_end.until, None);
        assert_eq!(at_end.reason, "app in background, offline since 00:05:00");
    }

    #[test]
    fn r6_never_seen_and_closed_are_offline_for_good() {
        assert_eq!(never_seen("messenger").kind, VerdictKind::Offline);
        assert_eq!(never_seen("messenger").reason, "no messenger session seen");
        let closed = closed("browser", t(65));
        assert_eq!((closed.kind, closed.until), (VerdictKind::Offline, None));
        assert_eq!(closed.reason, "browser closed at 00:01:05");
    }
}
