//! Instants stay within the years 1970–9999, a client clock a few seconds ahead counts as
//! now, and a refused item of a batch is named by its index (SPEC R24d, R20).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` on channel `web`, which listens to the messenger only.
fn messenger_agent() -> Server {
    team_on_web(&["a"], &[], json!({"sources": ["hr", "messenger"]}))
}

#[test]
fn r24d_a_signal_stamped_up_to_five_seconds_ahead_counts_as_now() {
    let s = messenger_agent();
    let now = s.now();
    s.signal_with(
        json!({"agent": "a", "source": "messenger", "event": "open", "at": ts(plus(now, 5))}),
    );
    // Online for the heartbeat timeout from now, not from the client's clock.
    s.assert_online_until("a", "web", "messenger", plus(now, 120));
}

#[test]
fn r24d_a_signal_further_ahead_or_outside_the_years_1970_to_9999_is_refused() {
    let mut s = messenger_agent();
    let now = s.now();
    for (at, needle) in [
        (ts(plus(now, 6)), "more than 5 s in the future"),
        (
            "1969-12-31T23:59:59Z".to_owned(),
            "the year must be from 1970 to 9999",
        ),
        ("+10004-08-14T00:00:00Z".to_owned(), "`at`"),
    ] {
        let body = json!({"agent": "a", "source": "messenger", "event": "open", "at": at});
        let expected = (400, "invalid_request", &[needle][..]);
        assert_refused(
            &mut s,
            Watch::default(),
            "POST",
            "/v1/signals",
            &body.to_string(),
            expected,
        );
    }
    let leave = json!({"agent": "a", "source": "hr", "event": "leave", "id": "x",
        "from": ts(now), "to": "9999-12-31T23:59:59-01:00"});
    let expected = (400, "invalid_request", &["`to`", "1970 to 9999"][..]);
    assert_refused(
        &mut s,
        Watch::default(),
        "POST",
        "/v1/signals",
        &leave.to_string(),
        expected,
    );
}

#[test]
fn r24d_the_clock_cannot_be_advanced_past_the_year_9999_and_the_store_stays_readable() {
    let mut s = messenger_agent();
    let before = s.now();
    let r = s.call(
        "POST",
        "/v1/clock/advance",
        Some(&json!({"seconds": 252_086_400_000_u64})),
    );
    assert_error(&r, 400, "invalid_request", &["`seconds`", "9999"]);
    assert_eq!(s.now(), before);
    s.signal("a", "messenger", "open");
    s.crash_and_restart();
    assert_eq!(s.now(), before, "the log still loads");
}

#[test]
fn r20_an_unknown_agent_inside_a_batch_is_named_by_its_index() {
    let mut s = messenger_agent();
    let batch = json!([
        {"agent": "a", "source": "messenger", "event": "open"},
        {"agent": "ghost", "source": "messenger", "event": "open"}
    ]);
    let expected = (404, "not_found", &["signal [1]", "`ghost`"][..]);
    assert_refused(
        &mut s,
        Watch::default(),
        "POST",
        "/v1/signals",
        &batch.to_string(),
        expected,
    );
    assert!(!s.is_available("a", "web"), "the whole batch was refused");
}
