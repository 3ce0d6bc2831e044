//! The `timesheet` source (Working Time management) through the API: SPEC R5, with the
//! `[plugins.timesheet] groups` setting and the R14 reason code `not_working`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

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

#[test]
fn r5_clock_in_pause_resume_clock_out_for_an_agent_of_a_wtm_group() {
    let s = Server::start(); // [plugins.timesheet] groups = ["shift"]
    s.put_agent("w", &["support", "shift"]);
    s.put_channel("web", &["w"], json!({}));
    assert_timesheet(&s, "w", "block", false);
    s.signal("w", "timesheet", "clock_in");
    assert_timesheet(&s, "w", "grant", true);
    s.signal("w", "timesheet", "pause");
    assert_timesheet(&s, "w", "block", false);
    s.signal("w", "timesheet", "resume");
    assert_timesheet(&s, "w", "grant", true);
    s.advance(8 * 3600);
    assert_timesheet(&s, "w", "grant", true); // a shift has no timeout of its own
    s.signal("w", "timesheet", "clock_out");
    assert_timesheet(&s, "w", "block", false);
}

#[test]
fn r5_wtm_does_not_apply_outside_the_configured_groups() {
    let s = Server::start();
    s.put_agent("o", &["support"]);
    s.put_channel("web", &["o"], json!({}));
    s.signal("o", "timesheet", "clock_in");
    assert_timesheet(&s, "o", "abstain", false);
    s.online("o");
    assert_timesheet(&s, "o", "abstain", true);
    s.signal("o", "timesheet", "clock_out");
    assert_timesheet(&s, "o", "abstain", true);
}

#[test]
fn r5_without_the_groups_key_wtm_applies_to_everyone() {
    let s = Server::builder().plugins("").start();
    s.put_agent("a", &[]);
    s.put_channel("web", &["a"], json!({}));
    s.online("a");
    assert_timesheet(&s, "a", "block", false);
    s.signal("a", "timesheet", "clock_in");
    assert_timesheet(&s, "a", "grant", true);
}

#[test]
fn r5_a_break_withdraws_an_offer_with_reason_not_working() {
    let s = Server::start();
    s.put_agent("w", &["shift"]);
    s.put_agent("x", &["shift"]);
    s.put_channel("web", &["w", "x"], json!({}));
    s.signal("w", "timesheet", "clock_in");
    assert_offered(&s.new_conversation("web", "c1"), &["w"]);
    s.signal("w", "timesheet", "pause");
    let c1 = s.conversation("c1");
    assert_waiting(&c1);
    assert_history_has(&c1, &["offer_withdrawn"], "w", "not_working");
    // R13: the next agent to clock in gets it at once.
    s.signal("x", "timesheet", "clock_in");
    assert_offered(&s.conversation("c1"), &["x"]);
}

#[test]
fn r5_clock_out_requeues_an_accepted_conversation_where_the_customer_spoke_last() {
    let s = Server::start();
    s.put_agent("w", &["shift"]);
    s.put_channel("web", &["w"], json!({}));
    s.signal("w", "timesheet", "clock_in");
    s.new_conversation("web", "c1");
    s.accept("c1", "w");
    s.customer_says("c1");
    s.signal("w", "timesheet", "clock_out");
    let c1 = s.conversation("c1");
    assert_waiting(&c1);
    assert_history_has(&c1, &["requeued"], "w", "not_working");
}

#[test]
fn r5_r13_joining_a_wtm_group_applies_at_once() {
    let s = Server::start();
    s.put_agent("a", &["support"]);
    s.put_channel("web", &["a"], json!({}));
    s.signal("a", "browser", "activity");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.put_agent("a", &["support", "shift"]);
    assert_timesheet(&s, "a", "block", false);
    let c1 = s.conversation("c1");
    assert_waiting(&c1);
    assert_history_has(&c1, &["offer_withdrawn"], "a", "not_working");
    s.put_agent("a", &["support"]);
    assert_timesheet(&s, "a", "abstain", true);
    assert_offered(&s.conversation("c1"), &["a"]);
}
