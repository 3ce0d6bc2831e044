//! The desktop `messenger` (SPEC R6) and `mobile` (R7) sources through the API, with every
//! time boundary probed one second before and at the instant via `/v1/clock/advance`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` (outside WTM) on channel `web` with offers that do not time out here.
fn agent_on_web(s: &Server) {
    s.team("web", &["a"], &[], json!({"offer_timeout_seconds": 86_400}));
}

/// A default server with [`agent_on_web`].
fn a_on_web() -> Server {
    let s = Server::start();
    agent_on_web(&s);
    s
}

/// The source's verdict is `offline` and the agent is unavailable.
fn assert_offline(s: &Server, source: &str) {
    let v = s.verdict("a", "web", source);
    assert_eq!(v["verdict"], "offline", "{v}");
    assert!(
        !s.is_available("a", "web"),
        "{}",
        s.availability("a", "web")
    );
}

/// `a` starts `source` with the event `start` now and sends a heartbeat `beat_after` s later:
/// each keeps `a` online for the 2-minute heartbeat timeout, and `a` goes offline exactly when
/// the one after the heartbeat ends.
fn assert_heartbeat_timeout(s: &Server, source: &str, start: &str, beat_after: i64) {
    let t = s.now();
    s.signal("a", source, start);
    s.assert_online_until("a", "web", source, plus(t, 120));
    s.advance(beat_after);
    s.signal("a", source, "heartbeat");
    s.assert_online_until("a", "web", source, plus(t, beat_after + 120));
    s.assert_available_for("a", "web", 120);
    assert_offline(s, source);
}

#[test]
fn r6_messenger_goes_offline_two_minutes_after_the_last_heartbeat() {
    assert_heartbeat_timeout(&a_on_web(), "messenger", "open", 100);
}

#[test]
fn r6_messenger_close_is_offline_at_once() {
    let s = a_on_web();
    s.signal("a", "messenger", "open");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.signal("a", "messenger", "close");
    assert_offline(&s, "messenger");
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "a", "offline");
}

#[test]
fn r6_do_not_disturb_does_not_affect_distribution() {
    let s = a_on_web();
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
    s.assert_available_for("a", "web", 60);
    assert_offline(&s, "messenger");
}

#[test]
fn r7_mobile_in_background_stays_online_for_five_minutes_then_offline() {
    let s = a_on_web();
    let t = s.now();
    s.mobile_in_background("a");
    s.assert_online_until("a", "web", "mobile", plus(t, 300));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.advance(299);
    assert!(s.is_available("a", "web"), "online at +299 s");
    assert_offered(&s.conversation("c1"), &["a"]);
    s.advance(1);
    assert_offline(&s, "mobile");
    // R14a through a deadline: the offer is withdrawn at the instant the grace ends.
    let c1 = s.conversation("c1");
    assert_returned_to_queue(&c1, "offer_withdrawn", "a", "offline");
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
    let s = a_on_web();
    s.mobile_in_background("a");
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
    let s = a_on_web();
    s.signal("a", "mobile", "foreground");
    assert!(s.is_available("a", "web"));
    s.signal("a", "mobile", "close");
    assert_offline(&s, "mobile");
}

#[test]
fn r7_foreground_app_without_heartbeats_goes_offline_after_heartbeat_timeout() {
    assert_heartbeat_timeout(&a_on_web(), "mobile", "foreground", 60);
}

#[test]
fn r7_background_grace_is_configurable() {
    let plugins = "[plugins.timesheet]\ngroups = [\"shift\"]\n[plugins.mobile]\nbackground_grace = \"10m\"\nheartbeat_timeout = \"2m\"\n";
    let s = Server::builder().plugins(plugins).start();
    agent_on_web(&s);
    s.mobile_in_background("a");
    s.assert_available_for("a", "web", 600);
    assert_offline(&s, "mobile");
}
