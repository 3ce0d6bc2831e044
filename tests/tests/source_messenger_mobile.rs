//! The desktop `messenger` (SPEC R6) and `mobile` (R7) sources through the API, with every
//! time boundary probed one second before and at the instant via `/v1/clock/advance`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` (outside WTM) on channel `web` with offers that do not time out here.
fn agent_on_web(s: &Server) {
    s.put_agent("a", &[]);
    s.put_channel("web", &["a"], json!({"offer_timeout_seconds": 86_400}));
}

/// The source's verdict is `online` until exactly `until`.
fn assert_online_until(s: &Server, source: &str, until: chrono::DateTime<chrono::Utc>) {
    let v = s.verdict("a", "web", source);
    assert_eq!(v["verdict"], "online", "{v}");
    let got = v["until"]
        .as_str()
        .unwrap_or_else(|| panic!("`until` missing while a timeout runs: {v}"));
    assert_eq!(
        parse_ts(got),
        until,
        "{source} verdict must say when it changes: {v}"
    );
}

fn assert_offline(s: &Server, source: &str) {
    let v = s.verdict("a", "web", source);
    assert_eq!(v["verdict"], "offline", "{v}");
    assert!(
        !s.is_available("a", "web"),
        "{}",
        s.availability("a", "web")
    );
}

#[test]
fn r6_messenger_goes_offline_two_minutes_after_the_last_heartbeat() {
    let s = Server::start();
    agent_on_web(&s);
    let t = s.now();
    s.signal("a", "messenger", "open");
    assert_online_until(&s, "messenger", plus(t, 120));
    s.advance(100);
    s.signal("a", "messenger", "heartbeat");
    assert_online_until(&s, "messenger", plus(t, 220));
    s.advance(119);
    assert!(s.is_available("a", "web"), "119 s after the heartbeat");
    s.advance(1);
    assert_offline(&s, "messenger");
}

#[test]
fn r6_messenger_close_is_offline_at_once() {
    let s = Server::start();
    agent_on_web(&s);
    s.signal("a", "messenger", "open");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.signal("a", "messenger", "close");
    assert_offline(&s, "messenger");
    let c1 = s.conversation("c1");
    assert_waiting(&c1);
    assert_history_has(&c1, &["offer_withdrawn"], "a", "offline");
}

#[test]
fn r6_do_not_disturb_does_not_affect_distribution() {
    let s = Server::start();
    agent_on_web(&s);
    s.signal("a", "messenger", "open");
    s.signal("a", "messenger", "dnd_on");
    assert_eq!(s.verdict("a", "web", "messenger")["verdict"], "online");
    assert!(s.is_available("a", "web"));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.accept("c1", "a");
    s.signal("a", "messenger", "dnd_off");
    s.signal("a", "messenger", "dnd_on");
    assert_held(&s.conversation("c1"), "a");
    assert_offered(&s.new_conversation("web", "c2"), &["a"]);
}

#[test]
fn r6_messenger_heartbeat_timeout_is_configurable() {
    let plugins = "[plugins.timesheet]\ngroups = [\"shift\"]\n[plugins.messenger]\nheartbeat_timeout = \"1m\"\n";
    let s = Server::builder().plugins(plugins).start();
    agent_on_web(&s);
    s.signal("a", "messenger", "open");
    s.advance(59);
    assert!(s.is_available("a", "web"));
    s.advance(1);
    assert_offline(&s, "messenger");
}

#[test]
fn r7_mobile_in_background_stays_online_for_five_minutes_then_offline() {
    let s = Server::start();
    agent_on_web(&s);
    let t = s.now();
    s.signal("a", "mobile", "foreground");
    s.signal("a", "mobile", "background");
    assert_online_until(&s, "mobile", plus(t, 300));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.advance(299);
    assert!(s.is_available("a", "web"), "online at +299 s");
    assert_offered(&s.conversation("c1"), &["a"]);
    s.advance(1);
    assert_offline(&s, "mobile");
    // R14a through a deadline: the offer is withdrawn at the instant the grace ends.
    let c1 = s.conversation("c1");
    assert_waiting(&c1);
    assert_history_has(&c1, &["offer_withdrawn"], "a", "offline");
    let withdrawn_at = c1["history"]
        .as_array()
        .and_then(|h| h.iter().find(|e| e["event"] == "offer_withdrawn"))
        .map(|e| parse_ts(e["at"].as_str().unwrap()));
    assert_eq!(
        withdrawn_at,
        Some(plus(t, 300)),
        "recorded at the deadline itself: {c1:#}"
    );
}

#[test]
fn r7_foreground_again_cancels_the_background_countdown() {
    let s = Server::start();
    agent_on_web(&s);
    s.signal("a", "mobile", "foreground");
    s.signal("a", "mobile", "background");
    s.advance(200);
    s.signal("a", "mobile", "foreground");
    s.advance(100); // the background grace would have ended now
    assert!(
        s.is_available("a", "web"),
        "foreground cancelled the countdown"
    );
    s.signal("a", "mobile", "heartbeat");
    s.advance(100);
    assert!(s.is_available("a", "web"));
}

#[test]
fn r7_mobile_close_is_offline_at_once() {
    let s = Server::start();
    agent_on_web(&s);
    s.signal("a", "mobile", "foreground");
    assert!(s.is_available("a", "web"));
    s.signal("a", "mobile", "close");
    assert_offline(&s, "mobile");
}

#[test]
fn r7_foreground_app_without_heartbeats_goes_offline_after_heartbeat_timeout() {
    let s = Server::start();
    agent_on_web(&s);
    let t = s.now();
    s.signal("a", "mobile", "foreground");
    assert_online_until(&s, "mobile", plus(t, 120));
    s.advance(60);
    s.signal("a", "mobile", "heartbeat");
    assert_online_until(&s, "mobile", plus(t, 180));
    s.advance(119);
    assert!(s.is_available("a", "web"));
    s.advance(1);
    assert_offline(&s, "mobile");
}

#[test]
fn r7_background_grace_is_configurable() {
    let plugins = "[plugins.timesheet]\ngroups = [\"shift\"]\n[plugins.mobile]\nbackground_grace = \"10m\"\nheartbeat_timeout = \"2m\"\n";
    let s = Server::builder().plugins(plugins).start();
    agent_on_web(&s);
    s.signal("a", "mobile", "foreground");
    s.signal("a", "mobile", "background");
    s.advance(599);
    assert!(s.is_available("a", "web"));
    s.advance(1);
    assert_offline(&s, "mobile");
}
