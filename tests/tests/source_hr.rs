//! The `hr` source through the API: dismissal and leaves (SPEC R4), with the reason codes
//! `dismissed` and `on_leave` of R14 and the exact change instants of R17.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// A server with agent `a` clocked in under WTM (a grant that never expires by itself, so
/// that only `hr` decides) on channel `web` with offers that never time out in these tests.
fn clocked_in_agent() -> Server {
    let s = team_on_web(&["a"], &["shift"], json!({"offer_timeout_seconds": 86_400}));
    s.signal("a", "timesheet", "clock_in");
    assert!(s.is_available("a", "web"));
    s
}

#[test]
fn r4_dismissed_blocks_until_rehired() {
    let s = clocked_in_agent();
    s.signal("a", "hr", "dismissed");
    let hr = s.verdict("a", "web", "hr");
    assert_eq!(hr["verdict"], "block", "{hr}");
    assert!(
        hr["until"].is_null(),
        "a dismissal does not end by itself: {hr}"
    );
    assert_eq!(s.get("/v1/agents/a")["dismissed"], true);
    assert_waiting(&s.new_conversation("web", "c1"));
    s.advance(7 * 86_400);
    assert!(!s.is_available("a", "web"), "still dismissed a week later");
    s.signal("a", "hr", "rehired");
    assert_eq!(s.get("/v1/agents/a")["dismissed"], false);
    assert!(s.is_available("a", "web"));
    // R13: becoming available routes the waiting conversation at once.
    assert_offered(&s.conversation("c1"), &["a"]);
}

#[test]
fn r4_dismissal_withdraws_an_offer_with_reason_dismissed() {
    let s = clocked_in_agent();
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.signal("a", "hr", "dismissed");
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "a", "dismissed");
}

#[test]
fn r4_leave_scheduled_in_advance_blocks_exactly_from_to() {
    let s = clocked_in_agent();
    let t = s.now();
    let (from, to) = (plus(t, 3600), plus(t, 7200));
    s.leave("a", "l-1", from, to);
    let hr = s.verdict("a", "web", "hr");
    assert_ne!(hr["verdict"], "block", "the leave has not started: {hr}");
    assert_eq!(verdict_until(&hr), from, "{hr}");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);

    s.advance(3599);
    assert!(s.is_available("a", "web"), "one second before `from`");
    assert_offered(&s.conversation("c1"), &["a"]);
    s.advance(1);
    assert!(!s.is_available("a", "web"), "at `from` (inclusive)");
    let hr = s.verdict("a", "web", "hr");
    assert_eq!(hr["verdict"], "block");
    assert_eq!(verdict_until(&hr), to, "{hr}");
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "a", "on_leave");

    s.advance(3599);
    assert!(!s.is_available("a", "web"), "one second before `to`");
    assert_waiting(&s.conversation("c1"));
    s.advance(1);
    assert!(
        s.is_available("a", "web"),
        "at `to` (exclusive) the leave is over without any signal"
    );
    assert_offered(&s.conversation("c1"), &["a"]);
}

#[test]
fn r4_leave_cancelled_before_it_starts_never_blocks() {
    let s = clocked_in_agent();
    let t = s.now();
    s.leave("a", "l-1", plus(t, 60), plus(t, 600));
    s.signal_with(json!({"agent": "a", "source": "hr", "event": "leave_cancelled", "id": "l-1"}));
    s.advance(60);
    assert!(s.is_available("a", "web"));
    assert_ne!(s.verdict("a", "web", "hr")["verdict"], "block");
}

#[test]
fn r4_cancelling_a_running_leave_makes_available_at_once() {
    let s = clocked_in_agent();
    let t = s.now();
    s.leave("a", "l-1", t, plus(t, 86_400));
    assert!(!s.is_available("a", "web"));
    assert_waiting(&s.new_conversation("web", "c1"));
    s.signal_with(json!({"agent": "a", "source": "hr", "event": "leave_cancelled", "id": "l-1"}));
    assert!(s.is_available("a", "web"));
    assert_offered(&s.conversation("c1"), &["a"]);
}

#[test]
fn r4_leaves_are_kept_by_id_and_cancelling_one_keeps_the_other() {
    let s = clocked_in_agent();
    let t = s.now();
    s.leave("a", "morning", t, plus(t, 600));
    s.leave("a", "afternoon", plus(t, 1200), plus(t, 1800));
    s.signal_with(
        json!({"agent": "a", "source": "hr", "event": "leave_cancelled", "id": "morning"}),
    );
    assert!(s.is_available("a", "web"), "`morning` cancelled");
    s.advance(1200);
    assert!(!s.is_available("a", "web"), "`afternoon` still scheduled");
    s.advance(600);
    assert!(s.is_available("a", "web"));
}

#[test]
fn r4_a_leave_that_is_over_does_not_block() {
    let s = clocked_in_agent();
    s.advance(86_400);
    let t = s.now();
    s.leave("a", "past", plus(t, -7200), plus(t, -3600));
    assert!(s.is_available("a", "web"));
}
