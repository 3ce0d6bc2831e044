//! What the supervisor dashboard reads (SPEC R32): availability as routing sees it (R1, R17),
//! every agent's at once (`GET /v1/availability`), and each channel's counts over the last
//! hour (`GET /v1/stats`). Who may read them is in `auth_roles.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

#[test]
fn r1_with_the_check_off_an_agent_is_reported_available_as_routing_treats_it() {
    let s = team_on_web(&["a"], &[], json!({"check_availability": false}));
    let joined = s.now();
    // `a` sent no presence signal: the sources say offline, routing does not ask them.
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    let entry = s.availability("a", "web");
    assert_eq!(entry["check_availability"], false, "{entry}");
    assert_eq!(
        entry["available"], true,
        "eligible with the check off: {entry}"
    );
    assert_eq!(entry["reason"], Value::Null, "{entry}");
    assert_eq!(entry["sources_available"], false, "{entry}");
    assert_eq!(entry["sources_reason"], "offline", "{entry}");
    assert_eq!(
        parse_ts(entry["since"].as_str().unwrap()),
        joined,
        "{entry}"
    );
    assert!(
        !entry["verdicts"].as_array().unwrap().is_empty(),
        "the sources' verdicts are still shown: {entry}"
    );

    s.patch_channel("web", json!({"check_availability": true}));
    let entry = s.availability("a", "web");
    assert_eq!(entry["available"], false, "{entry}");
    assert_eq!(entry["reason"], "offline", "{entry}");

    s.advance(30);
    s.online("a");
    let entry = s.availability("a", "web");
    assert_eq!(entry["available"], true, "{entry}");
    assert_eq!(entry["sources_available"], true, "{entry}");
    assert_eq!(
        parse_ts(entry["since"].as_str().unwrap()),
        plus(joined, 30),
        "since the sources' answer changed: {entry}"
    );
}

#[test]
fn r17_every_agents_availability_in_one_read() {
    let s = Server::start();
    s.team("web", &["a", "b"], &[], json!({}));
    s.put_channel("mail", &["b"], json!({"check_availability": false}));
    s.put_agent("idle", &[]);
    s.online("a");
    let all = s.get("/v1/availability");
    let agents = all["agents"].as_array().unwrap();
    let listed: Vec<&str> = agents
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["a", "b", "idle"],
        "every agent, in creation order: {all}"
    );
    for agent in ["a", "b", "idle"] {
        let one = s.get(&format!("/v1/agents/{agent}/availability"));
        let here = agents.iter().find(|a| a["agent"] == agent).unwrap();
        assert_eq!(*here, one, "the same as the agent's own read");
    }
    let only = s.get("/v1/availability?agent=b");
    assert_eq!(only["agents"], json!([agents[1]]), "?agent= selects one");
    let none = s.get("/v1/availability?agent=nobody");
    assert_eq!(none["agents"], json!([]), "{none}");
    let b = &agents[1]["channels"];
    assert_eq!(b[0]["channel"], "web");
    assert_eq!(b[0]["available"], false);
    assert_eq!(b[1]["channel"], "mail");
    assert_eq!(b[1]["available"], true, "R1 off: {b}");
}

/// One channel's counts in `GET /v1/stats`.
fn counts(s: &Server, channel: &str) -> Value {
    let stats = s.get("/v1/stats");
    stats["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .cloned()
        .unwrap_or_else(|| panic!("no counts for {channel}: {stats}"))
}

#[test]
fn r32_stats_count_offers_acceptances_and_requeues_by_reason_over_the_last_hour() {
    let s = team_on_web(&["a", "b"], &[], json!({}));
    s.put_channel("mail", &["a"], json!({}));
    s.online("a");
    s.online("b");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.decline("c1", "a");
    assert_offered(&s.conversation("c1"), &["b"]);
    s.accept("c1", "b");
    s.customer_says("c1");
    s.signal("b", "messenger", "close"); // R14c: held, customer spoke last → requeued
    let c1 = s.conversation("c1");
    let offers = history(&c1)
        .iter()
        .filter(|(e, _, _)| e == "offered")
        .count();

    let web = counts(&s, "web");
    assert_eq!(web["offered"], offers, "{web}");
    assert_eq!(web["accepted"], 1, "{web}");
    assert_eq!(web["requeued"], json!({"offline": 1}), "{web}");
    assert_eq!(web["offers_withdrawn"], json!({"declined": 1}), "{web}");
    assert_eq!(web["queued"], 1, "arrivals (a return is a requeue): {web}");
    let mail = counts(&s, "mail");
    assert_eq!(mail["offered"], 0, "every channel is listed: {mail}");

    let stats = s.get("/v1/stats");
    assert_eq!(stats["window_seconds"], 3600, "{stats}");
    assert!(parse_ts(stats["counting_since"].as_str().unwrap()) <= s.now());

    s.close("c1");
    assert_eq!(counts(&s, "web")["closed"], 1);
    // An hour and a minute later, on the server's (manual) clock, none of it counts.
    s.advance(3660);
    let web = counts(&s, "web");
    assert_eq!(
        web,
        json!({"channel": "web", "queued": 0, "offered": 0, "accepted": 0, "closed": 0,
               "requeued": {}, "offers_withdrawn": {}}),
        "{web}"
    );
}
