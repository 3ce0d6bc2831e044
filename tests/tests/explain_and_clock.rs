//! Explainability (SPEC R17: every source's verdict, reason and change instant; complete
//! conversation history) and the clock (R18).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

const VERDICTS: [&str; 5] = ["block", "grant", "online", "offline", "abstain"];

#[test]
fn r17_availability_lists_every_source_with_verdict_reason_and_change_instant() {
    let s = team_on_web(&["a"], &["support"], json!({}));
    let t = s.now();
    s.leave("a", "trip", plus(t, 3600), plus(t, 7200));
    s.signal("a", "messenger", "open");
    s.mobile_in_background("a");
    s.signal("a", "browser", "activity");
    let entry = s.availability("a", "web");
    assert_eq!(entry["check_availability"], true, "{entry:#}");
    assert_eq!(entry["available"], true, "{entry:#}");
    let verdicts = entry["verdicts"]
        .as_array()
        .unwrap_or_else(|| panic!("no verdicts: {entry:#}"));
    let mut sources: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| v["source"].as_str())
        .collect();
    sources.sort_unstable();
    assert_eq!(
        sources,
        ["browser", "hr", "messenger", "mobile", "timesheet"],
        "one verdict per source: {entry:#}"
    );
    for v in verdicts {
        assert!(
            VERDICTS.contains(&v["verdict"].as_str().unwrap_or("?")),
            "verdict outside the contract: {v}"
        );
        assert!(
            v["reason"].as_str().is_some_and(|r| !r.trim().is_empty()),
            "every verdict carries a reason: {v}"
        );
    }
    let until = |source: &str| {
        let v = verdicts.iter().find(|v| v["source"] == source).unwrap();
        v["until"].as_str().map(parse_ts)
    };
    assert_eq!(
        until("hr"),
        Some(plus(t, 3600)),
        "hr changes when the leave starts"
    );
    assert_eq!(
        until("timesheet"),
        None,
        "WTM does not apply: nothing changes by itself"
    );
    assert_eq!(until("messenger"), Some(plus(t, 120)));
    assert_eq!(until("mobile"), Some(plus(t, 300)));
    assert_eq!(until("browser"), Some(plus(t, 900)));
    let body = s.get("/v1/agents/a/availability");
    assert_eq!(body["agent"], "a", "{body}");
}

#[test]
fn r17_an_unavailable_agent_is_explained_by_the_blocking_source() {
    let s = team_on_web(&["w"], &["shift"], json!({}));
    s.signal("w", "browser", "activity");
    s.signal("w", "timesheet", "clock_in");
    s.signal("w", "timesheet", "pause");
    let entry = s.availability("w", "web");
    assert_eq!(entry["available"], false, "{entry:#}");
    let ts = s.verdict("w", "web", "timesheet");
    assert_eq!(ts["verdict"], "block", "{ts}");
    assert!(ts["until"].is_null(), "a break ends only by a signal: {ts}");
    assert_eq!(
        s.verdict("w", "web", "browser")["verdict"],
        "online",
        "the other reasons are kept: {entry:#}"
    );
}

#[test]
fn r17_history_records_every_offer_acceptance_withdrawal_and_requeue_in_order() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    let t = s.now();
    s.new_conversation("web", "c1");
    s.decline("c1", "a");
    s.advance(120); // b's offer expires; both skipped: new round
    s.accept("c1", "a");
    s.signal("a", "timesheet", "pause"); // customer wrote last: requeued
    s.accept("c1", "b");
    s.agent_says("c1", "b");
    let c1 = s.close("c1");
    assert_eq!(c1["state"], "closed", "{c1:#}");
    let expected = [
        ("queued", "", ""),
        ("offered", "a", ""),
        ("declined", "a", "declined"),
        ("offered", "b", ""),
        ("offer_expired", "b", "offer_expired"),
        ("offered", "a", ""),
        ("accepted", "a", ""),
        ("requeued", "a", "not_working"),
        ("offered", "b", ""),
        ("accepted", "b", ""),
        ("closed", "", ""),
    ];
    let got = history(&c1);
    let got_events: Vec<&str> = got.iter().map(|(e, _, _)| e.as_str()).collect();
    let want_events: Vec<&str> = expected.iter().map(|(e, _, _)| *e).collect();
    assert_eq!(got_events, want_events, "complete history of c1: {got:?}");
    for ((event, agent, reason), (_, got_agent, got_reason)) in expected.iter().zip(&got) {
        if !agent.is_empty() {
            assert_eq!(got_agent, agent, "agent of `{event}` in {got:?}");
        }
        assert_eq!(got_reason, reason, "reason of `{event}` in {got:?}");
    }
    let times: Vec<_> = c1["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| parse_ts(h["at"].as_str().unwrap()))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "history in time order: {times:?}"
    );
    assert_eq!(times[0], t);
    assert_eq!(
        times[4],
        plus(t, 120),
        "the expiry is recorded at the deadline itself"
    );
    assert_eq!(parse_ts(c1["queued_at"].as_str().unwrap()), t);
}

#[test]
fn r18_manual_clock_moves_only_when_advanced_and_exactly_by_the_seconds_given() {
    let s = Server::start();
    let clock = s.get("/v1/clock");
    assert_eq!(clock["mode"], "manual", "{clock}");
    let t0 = s.now();
    assert_eq!(s.now(), t0, "a manual clock does not move by itself");
    let t1 = s.advance(300);
    assert_eq!(t1, plus(t0, 300));
    assert_eq!(s.now(), t1);
    assert_eq!(s.advance(1), plus(t0, 301));
}

#[test]
fn r18_one_advance_processes_every_deadline_due_including_the_ones_it_creates() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    let t = s.now();
    s.new_conversation("web", "c1");
    // Offers to a, b, a, b... each expiring after 120 s: at +1000 s the ninth offer (to `a`,
    // made at +960 s) is pending.
    s.advance(1000);
    let c1 = s.conversation("c1");
    assert_offered(&c1, &["a"]);
    let expiries: Vec<_> = c1["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "offer_expired")
        .map(|h| parse_ts(h["at"].as_str().unwrap()))
        .collect();
    let want: Vec<_> = (1..=8).map(|k| plus(t, 120 * k)).collect();
    assert_eq!(
        expiries, want,
        "every expiry processed at its own instant: {:#}",
        c1["history"]
    );
}

#[test]
fn r18_advance_is_refused_on_the_system_clock() {
    let mut s = Server::builder().clock("system").start();
    assert_eq!(s.get("/v1/clock")["mode"], "system");
    let advance = r#"{"seconds": 60}"#;
    assert_conflict(
        &mut s,
        Watch::default(),
        "POST",
        "/v1/clock/advance",
        advance,
    );
}
