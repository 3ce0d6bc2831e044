//! The `timesheet` source (Working Time management) through the API: SPEC R5, with the
//! `[plugins.timesheet] groups` setting and the R14 reason code `not_working`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// The agent's `timesheet` verdict on channel `web` is `verdict`, and it is `available` there.
fn assert_timesheet(s: &Server, agent: &str, verdict: &str, available: bool) {
    let v = s.verdict(agent, "web", "timesheet");
    assert_eq!(v["verdict"], verdict, "timesheet verdict for {agent}: {v}");
    assert_eq!(
        s.is_available(agent, "web"),
        available,
        "availability of {agent}: {}",
        s.availability(agent, "web")
    );
}

/// Sends the agent's timesheet `event`, then [`assert_timesheet`].
fn assert_timesheet_after(s: &Server, agent: &str, event: &str, verdict: &str, available: bool) {
    s.signal(agent, "timesheet", event);
    assert_timesheet(s, agent, verdict, available);
}

#[test]
fn r5_clock_in_pause_resume_clock_out_for_an_agent_of_a_wtm_group() {
    // [plugins.timesheet] groups = ["shift"]
    let s = team_on_web(&["w"], &["support", "shift"], json!({}));
    assert_timesheet(&s, "w", "block", false);
    assert_timesheet_after(&s, "w", "clock_in", "grant", true);
    assert_timesheet_after(&s, "w", "pause", "block", false);
    assert_timesheet_after(&s, "w", "resume", "grant", true);
    s.advance(8 * 3600);
    assert_timesheet(&s, "w", "grant", true); // a shift has no timeout of its own
    assert_timesheet_after(&s, "w", "clock_out", "block", false);
}

#[test]
fn r5_wtm_does_not_apply_outside_the_configured_groups() {
    let s = team_on_web(&["o"], &["support"], json!({}));
    assert_timesheet_after(&s, "o", "clock_in", "abstain", false);
    s.online("o");
    assert_timesheet(&s, "o", "abstain", true);
    assert_timesheet_after(&s, "o", "clock_out", "abstain", true);
}

#[test]
fn r5_without_the_groups_key_wtm_applies_to_everyone() {
    let s = Server::builder().plugins("").start();
    s.team("web", &["a"], &[], json!({}));
    s.online("a");
    assert_timesheet(&s, "a", "block", false);
    assert_timesheet_after(&s, "a", "clock_in", "grant", true);
}

#[test]
fn r5_a_break_withdraws_an_offer_with_reason_not_working() {
    let s = team_on_web(&["w", "x"], &["shift"], json!({}));
    s.signal("w", "timesheet", "clock_in");
    assert_offered(&s.new_conversation("web", "c1"), &["w"]);
    s.signal("w", "timesheet", "pause");
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "w", "not_working");
    // R13: the next agent to clock in gets it at once.
    s.signal("x", "timesheet", "clock_in");
    assert_offered(&s.conversation("c1"), &["x"]);
}

#[test]
fn r5_clock_out_requeues_an_accepted_conversation_where_the_customer_spoke_last() {
    let s = team_on_web(&["w"], &["shift"], json!({}));
    s.signal("w", "timesheet", "clock_in");
    s.new_conversation("web", "c1");
    s.accept("c1", "w");
    s.customer_says("c1");
    s.signal("w", "timesheet", "clock_out");
    assert_returned_to_queue(&s.conversation("c1"), "requeued", "w", "not_working");
}

#[test]
fn r5_r13_joining_a_wtm_group_applies_at_once() {
    let s = team_on_web(&["a"], &["support"], json!({}));
    s.signal("a", "browser", "activity");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.put_agent("a", &["support", "shift"]);
    assert_timesheet(&s, "a", "block", false);
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "a", "not_working");
    s.put_agent("a", &["support"]);
    assert_timesheet(&s, "a", "abstain", true);
    assert_offered(&s.conversation("c1"), &["a"]);
}
