//! The availability check and what "available" means: SPEC R1, R2, R3, R9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

#[test]
fn r1_check_off_routes_to_an_offline_agent_and_patch_on_takes_effect_at_once() {
    let s = team_on_web(&["a"], &[], json!({"check_availability": false}));
    // `a` has sent no presence signal at all: with the check off nobody asks the sources.
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);

    let patched = s.patch_channel("web", json!({"check_availability": true}));
    assert_eq!(
        patched["check_availability"], true,
        "PATCH answers the channel: {patched}"
    );
    assert_eq!(s.get("/v1/channels/web")["check_availability"], true);
    assert_eq!(s.availability("a", "web")["check_availability"], true);
    // The very next routing decision consults the sources: the offline agent gets nothing.
    assert_waiting(&s.new_conversation("web", "c2"));
    assert!(s.queue("web").contains(&"c2".to_owned()));
    assert!(!s.agent_conversations("a").contains(&"c2".to_owned()));
}

#[test]
fn r1_patch_off_routes_a_waiting_conversation_immediately() {
    let s = team_on_web(&["a"], &[], json!({}));
    assert_waiting(&s.new_conversation("web", "c1"));
    s.patch_channel("web", json!({"check_availability": false}));
    // R13: a setting changing routes at once; no clock advance, no new conversation needed.
    assert_offered(&s.conversation("c1"), &["a"]);
    assert_eq!(s.queue("web"), Vec::<String>::new());
}

#[test]
fn r1_check_off_still_applies_capacity() {
    let s = team_on_web(
        &["a"],
        &[],
        json!({"check_availability": false, "max_chats": 1}),
    );
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    assert_waiting(&s.new_conversation("web", "c2"));
    assert_eq!(s.queue("web"), ["c2"]);
}

#[test]
fn r2_dismissed_agent_is_unavailable_although_online() {
    let s = team_on_web(&["a"], &[], json!({}));
    s.online("a");
    assert!(s.is_available("a", "web"));
    s.signal("a", "hr", "dismissed");
    assert!(!s.is_available("a", "web"));
    assert_eq!(s.verdict("a", "web", "hr")["verdict"], "block");
    assert_eq!(s.get("/v1/agents/a")["dismissed"], true);
    assert_waiting(&s.new_conversation("web", "c1"));
}

#[test]
fn r2_agent_on_leave_is_unavailable_although_online() {
    let s = team_on_web(&["a"], &[], json!({}));
    s.online("a");
    let now = s.now();
    s.leave("a", "vacation", now, plus(now, 86_400));
    assert!(!s.is_available("a", "web"));
    assert_eq!(s.verdict("a", "web", "hr")["verdict"], "block");
    assert_waiting(&s.new_conversation("web", "c1"));
}

#[test]
fn r2_wtm_agent_needs_to_clock_in_and_presence_is_not_enough() {
    let s = team_on_web(&["w"], &["shift"], json!({}));
    s.online("w");
    s.signal("w", "browser", "activity");
    assert!(
        !s.is_available("w", "web"),
        "WTM applies to group `shift`: not clocked in = unavailable"
    );
    assert_eq!(s.verdict("w", "web", "timesheet")["verdict"], "block");
    assert_waiting(&s.new_conversation("web", "c1"));
    s.signal("w", "timesheet", "clock_in");
    assert!(s.is_available("w", "web"));
    assert_offered(&s.conversation("c1"), &["w"]);
}

#[test]
fn r2_agent_without_wtm_needs_a_presence_signal() {
    let s = team_on_web(&["a"], &["support"], json!({}));
    assert!(!s.is_available("a", "web"), "no source says online yet");
    assert_eq!(
        s.verdict("a", "web", "timesheet")["verdict"],
        "abstain",
        "WTM does not apply to `support`"
    );
    // Clocking in means nothing to an agent outside WTM.
    s.signal("a", "timesheet", "clock_in");
    assert!(!s.is_available("a", "web"));
    assert_eq!(s.verdict("a", "web", "timesheet")["verdict"], "abstain");
    s.online("a");
    assert!(s.is_available("a", "web"));
}

#[test]
fn r3_any_block_beats_a_grant() {
    let s = team_on_web(&["w"], &["shift"], json!({}));
    s.signal("w", "timesheet", "clock_in");
    s.online("w");
    assert!(s.is_available("w", "web"));
    s.signal("w", "hr", "dismissed");
    assert_eq!(s.verdict("w", "web", "timesheet")["verdict"], "grant");
    assert_eq!(s.verdict("w", "web", "hr")["verdict"], "block");
    assert!(!s.is_available("w", "web"), "block > grant > online");
}

#[test]
fn r3_grant_makes_available_whatever_the_apps_say() {
    let s = team_on_web(&["w"], &["shift"], json!({}));
    s.online("w");
    s.signal("w", "messenger", "close");
    s.signal("w", "timesheet", "clock_in");
    assert_eq!(s.verdict("w", "web", "messenger")["verdict"], "offline");
    assert!(
        s.is_available("w", "web"),
        "clocked in under WTM: available with every app closed"
    );
    assert_offered(&s.new_conversation("web", "c1"), &["w"]);
}

#[test]
fn r3_channel_whose_sources_never_say_online_routes_to_nobody() {
    let s = Server::start();
    s.team("hr-only", &["a"], &[], json!({"sources": ["hr"]}));
    s.online("a");
    s.signal("a", "browser", "activity");
    let entry = s.availability("a", "hr-only");
    assert_eq!(
        entry["available"], false,
        "only `hr` can never say online: {entry}"
    );
    let sources: Vec<&Value> = entry["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["source"])
        .collect();
    assert_eq!(
        sources,
        ["hr"],
        "only the channel's sources are consulted: {entry}"
    );
    assert_waiting(&s.new_conversation("hr-only", "c1"));
}

#[test]
fn r9_agent_is_online_if_any_client_says_so() {
    let s = team_on_web(&["a"], &[], json!({}));
    s.signal("a", "mobile", "foreground");
    s.signal("a", "browser", "activity");
    assert!(s.is_available("a", "web"));
    s.signal("a", "mobile", "close");
    assert!(s.is_available("a", "web"), "the browser still says online");
    s.online("a");
    s.signal("a", "browser", "close");
    assert!(
        s.is_available("a", "web"),
        "the messenger still says online"
    );
    s.signal("a", "messenger", "close");
    assert!(!s.is_available("a", "web"), "no client left");
}

#[test]
fn r9_availability_is_per_channel_because_channels_choose_sources() {
    let s = Server::start();
    s.team("desk", &["a"], &[], json!({"sources": ["hr", "messenger"]}));
    s.put_channel("web", &["a"], json!({"sources": ["hr", "browser"]}));
    s.signal("a", "browser", "activity");
    assert!(s.is_available("a", "web"));
    assert!(!s.is_available("a", "desk"));
    let channels = s.get("/v1/agents/a/availability")["channels"].clone();
    assert_eq!(
        channels.as_array().map(Vec::len),
        Some(2),
        "one entry per channel whose queue holds the agent: {channels}"
    );
    assert_waiting(&s.new_conversation("desk", "d1"));
    assert_offered(&s.new_conversation("web", "w1"), &["a"]);
    // Opening the messenger makes the agent available on `desk` and routes its waiting conversation.
    s.online("a");
    assert_offered(&s.conversation("d1"), &["a"]);
}
