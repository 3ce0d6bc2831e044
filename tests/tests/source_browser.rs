//! The `browser` source through the API: idle timeout (15 min by default) and the per-group
//! session lifetime where the shortest group wins (SPEC R8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` in `groups` on channel `web` (browser only, so nothing else can say online).
fn browser_agent(s: &Server, groups: &[&str]) {
    s.put_agent("a", groups);
    s.put_channel(
        "web",
        &["a"],
        json!({"sources": ["hr", "browser"], "offer_timeout_seconds": 86_400}),
    );
}

/// Activity now; then online at `seconds - 1` and offline at `seconds`.
fn assert_idle_timeout(s: &Server, seconds: i64) {
    let t = s.now();
    s.signal("a", "browser", "activity");
    s.assert_online_until("a", "web", "browser", plus(t, seconds));
    s.assert_available_for("a", "web", seconds);
    assert_eq!(s.verdict("a", "web", "browser")["verdict"], "offline");
}

#[test]
fn r8_browser_goes_offline_after_fifteen_minutes_without_activity() {
    let s = Server::start();
    browser_agent(&s, &[]);
    assert!(!s.is_available("a", "web"), "no tab open yet");
    assert_idle_timeout(&s, 900);
}

#[test]
fn r8_activity_restarts_the_idle_countdown() {
    let s = Server::start();
    browser_agent(&s, &[]);
    s.signal("a", "browser", "activity");
    s.advance(600);
    s.signal("a", "browser", "activity");
    s.advance(600); // 1200 s after the first activity, 600 s after the last
    assert!(s.is_available("a", "web"));
    s.assert_available_for("a", "web", 300);
}

#[test]
fn r8_closing_the_last_tab_is_offline_at_once_and_withdraws_the_offer() {
    let s = Server::start();
    browser_agent(&s, &[]);
    s.signal("a", "browser", "activity");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.signal("a", "browser", "close");
    assert!(!s.is_available("a", "web"));
    assert_returned_to_queue(&s.conversation("c1"), "offer_withdrawn", "a", "offline");
}

#[test]
fn r8_shortest_session_lifetime_of_the_agents_groups_wins() {
    let s = Server::start();
    s.put_group("long", Some(30));
    s.put_group("short", Some(10));
    s.put_group("plain", None);
    assert_eq!(s.get("/v1/groups/short")["session_lifetime_minutes"], 10);
    assert!(s.get("/v1/groups/plain")["session_lifetime_minutes"].is_null());
    browser_agent(&s, &["long", "short", "plain"]);
    assert_idle_timeout(&s, 600);
}

#[test]
fn r8_a_group_lifetime_longer_than_the_default_applies() {
    let s = Server::start();
    s.put_group("long", Some(30));
    browser_agent(&s, &["long"]);
    assert_idle_timeout(&s, 1800);
}

#[test]
fn r8_groups_without_a_lifetime_keep_the_default() {
    let s = Server::start();
    s.put_group("plain", None);
    browser_agent(&s, &["plain", "not-configured"]);
    assert_idle_timeout(&s, 900);
}

#[test]
fn r8_replacing_a_group_lifetime_with_null_restores_the_default() {
    let s = Server::start();
    s.put_group("g", Some(5));
    s.put_group("g", None);
    assert!(s.get("/v1/groups/g")["session_lifetime_minutes"].is_null());
    browser_agent(&s, &["g"]);
    assert_idle_timeout(&s, 900);
}

#[test]
fn r8_idle_timeout_default_is_configurable() {
    let plugins =
        "[plugins.timesheet]\ngroups = [\"shift\"]\n[plugins.browser]\nidle_timeout = \"5m\"\n";
    let s = Server::builder().plugins(plugins).start();
    browser_agent(&s, &[]);
    assert_idle_timeout(&s, 300);
}

#[test]
fn r8_activity_reported_with_a_past_at_counts_from_that_instant() {
    let s = Server::start();
    browser_agent(&s, &[]);
    let t = s.now();
    let at = ts(plus(t, -600));
    s.signal_with(json!({"agent": "a", "source": "browser", "event": "activity", "at": at}));
    s.assert_online_until("a", "web", "browser", plus(t, 300)); // 15 min after `at`
    s.assert_available_for("a", "web", 300);
    // Activity already older than the idle timeout never makes the agent online.
    let stale = ts(plus(s.now(), -901));
    s.signal_with(json!({"agent": "a", "source": "browser", "event": "activity", "at": stale}));
    assert!(!s.is_available("a", "web"));
}

#[test]
fn r8_r13_shortening_a_group_lifetime_applies_to_running_sessions_at_once() {
    let s = Server::start();
    s.put_group("g", None);
    browser_agent(&s, &["g"]);
    s.signal("a", "browser", "activity");
    s.advance(400);
    assert!(s.is_available("a", "web"), "default 15 min");
    s.put_group("g", Some(5));
    assert!(
        !s.is_available("a", "web"),
        "400 s idle is over the new 5 min lifetime"
    );
}
