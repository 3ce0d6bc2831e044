//! SPEC R20 for agents, groups, channels and every unknown-resource path: each refusal has
//! the right status and `{"error":{"code","message"}}`, names the problem, changes nothing,
//! and the server keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` (group `g`, lifetime 30) on channel `web`, one conversation `c1` offered to `a`.
fn populated() -> Server {
    let s = Server::start();
    s.put_group("g", Some(30));
    s.team("web", &["a"], &["g"], json!({"check_availability": false}));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s
}

const WATCH: Watch<'static> = Watch {
    conversations: &["c1"],
    groups: &["g"],
};

#[test]
fn r20_put_agent_refuses_bad_bodies_and_changes_nothing() {
    let mut s = populated();
    for path in ["/v1/agents/a", "/v1/agents/newcomer"] {
        let cases: [(&str, &[&str]); 8] = [
            (r#"{"name": "X","#, &[MALFORMED]),
            ("", &[MALFORMED]),
            (r#"{"name": "X", "colour": "red"}"#, &["colour"]),
            (r#"{"name": "X", "groups": "support"}"#, &["groups"]),
            (r#"{"name": "X", "groups": [1, 2]}"#, &["groups"]),
            (r#"{"groups": ["support"]}"#, &["name"]),
            (r#"{"name": 5}"#, &["name"]),
            (r#"{"name": "X", "timezone": 1}"#, &["timezone"]),
        ];
        assert_each_invalid(&mut s, WATCH, "PUT", path, &cases);
        assert_invalid(&mut s, WATCH, "PUT", path, "[1, 2]", &[]);
    }
    let missing = s.call("GET", "/v1/agents/newcomer", None);
    assert_error(&missing, 404, "not_found", &["newcomer"]);
}

#[test]
fn r20_put_group_refuses_bad_lifetimes_and_changes_nothing() {
    let mut s = populated();
    for path in ["/v1/groups/g", "/v1/groups/h"] {
        for body in [
            r#"{"session_lifetime_minutes": "30"}"#,
            r#"{"session_lifetime_minutes": -5}"#,
            r#"{"session_lifetime_minutes": 0}"#,
            r#"{"session_lifetime_minutes": 1.5}"#,
        ] {
            assert_invalid(
                &mut s,
                WATCH,
                "PUT",
                path,
                body,
                &["session_lifetime_minutes"],
            );
        }
        assert_invalid(
            &mut s,
            WATCH,
            "PUT",
            path,
            r#"{"session_lifetime_minutes": 30, "colour": 1}"#,
            &["colour"],
        );
        assert_invalid(&mut s, WATCH, "PUT", path, "{", &[MALFORMED]);
    }
    assert_error(
        &s.call("GET", "/v1/groups/h", None),
        404,
        "not_found",
        &["h"],
    );
    assert_eq!(s.get("/v1/groups/g")["session_lifetime_minutes"], 30);
}

fn channel_body(field: &str, value: Value) -> String {
    let mut body = json!({"name": "Web", "check_availability": true, "sources": ALL_SOURCES,
                          "policy": "strict_order", "queue": ["a"], "max_chats": null, "offer_timeout_seconds": 120});
    body[field] = value;
    body.to_string()
}

#[test]
fn r20_put_channel_refuses_unknown_plugins_listing_the_registered_ones() {
    let mut s = populated();
    for path in ["/v1/channels/web", "/v1/channels/fresh"] {
        let sources = channel_body("sources", json!(["hr", "fax"]));
        let needles = unknown_and_valid("fax", &ALL_SOURCES);
        assert_invalid(&mut s, WATCH, "PUT", path, &sources, &needles);
        let policy = channel_body("policy", json!("random"));
        let needles = unknown_and_valid("random", &ALL_POLICIES);
        assert_invalid(&mut s, WATCH, "PUT", path, &policy, &needles);
    }
}

#[test]
fn r20_put_channel_refuses_bad_values_and_changes_nothing() {
    let mut s = populated();
    let cases: [(&str, Value); 10] = [
        ("check_availability", json!("yes")),
        ("max_chats", json!(-1)),
        ("max_chats", json!("five")),
        ("offer_timeout_seconds", json!(0)),
        ("offer_timeout_seconds", json!(-5)),
        ("offer_timeout_seconds", json!(1.5)),
        ("queue", json!("a")),
        ("queue", json!([1])),
        ("sources", json!("hr")),
        ("name", json!(5)),
    ];
    for path in ["/v1/channels/web", "/v1/channels/fresh"] {
        for (field, value) in &cases {
            let body = channel_body(field, value.clone());
            assert_invalid(&mut s, WATCH, "PUT", path, &body, &[field]);
        }
        let colour = channel_body("colour", json!("red"));
        assert_invalid(&mut s, WATCH, "PUT", path, &colour, &["colour"]);
        let truncated = r#"{"name": "Web", "#;
        assert_invalid(&mut s, WATCH, "PUT", path, truncated, &[MALFORMED]);
    }
}

#[test]
fn r20_patch_channel_refuses_bad_values_and_unknown_channels() {
    let mut s = populated();
    let random_policy = unknown_and_valid("random", &ALL_POLICIES);
    let cases: [(&str, &[&str]); 6] = [
        (r#"{"policy": "random"}"#, &random_policy),
        (r#"{"sources": ["mobil"]}"#, &["mobil", "mobile"]),
        (
            r#"{"offer_timeout_seconds": 0}"#,
            &["offer_timeout_seconds"],
        ),
        (r#"{"check_availability": 1}"#, &["check_availability"]),
        (r#"{"queue": ["a"], "colour": 1}"#, &["colour"]),
        (r#"{"queue": "#, &[MALFORMED]),
    ];
    assert_each_invalid(&mut s, WATCH, "PATCH", "/v1/channels/web", &cases);
    let check_off = r#"{"check_availability": false}"#;
    assert_not_found(
        &mut s,
        WATCH,
        "PATCH",
        "/v1/channels/nowhere",
        check_off,
        "nowhere",
    );
}

#[test]
fn r20_unknown_resources_are_404_naming_what_is_missing() {
    let mut s = populated();
    for path in [
        "/v1/agents/nobody",
        "/v1/agents/nobody/availability",
        "/v1/agents/nobody/conversations",
    ] {
        assert_not_found(&mut s, WATCH, "GET", path, "", "nobody");
    }
    assert_not_found(&mut s, WATCH, "GET", "/v1/groups/nogroup", "", "nogroup");
    for path in ["/v1/channels/nowhere", "/v1/channels/nowhere/queue"] {
        assert_not_found(&mut s, WATCH, "GET", path, "", "nowhere");
    }
    let body = r#"{"id": "x1", "customer": "c-1", "text": "hi"}"#;
    assert_not_found(
        &mut s,
        WATCH,
        "POST",
        "/v1/channels/nowhere/conversations",
        body,
        "nowhere",
    );
    assert_not_found(
        &mut s,
        WATCH,
        "GET",
        "/v1/conversations/nothing",
        "",
        "nothing",
    );
    let actions = [
        ("accept", r#"{"agent": "a"}"#),
        ("decline", r#"{"agent": "a"}"#),
        ("transfer", r#"{"to": "a"}"#),
        ("messages", r#"{"from": "customer", "text": "hi"}"#),
        ("close", ""),
    ];
    for (action, body) in actions {
        assert_not_found(
            &mut s,
            WATCH,
            "POST",
            &format!("/v1/conversations/nothing/{action}"),
            body,
            "nothing",
        );
    }
    assert!(s.call("GET", "/healthz", None).status == 200);
}

#[test]
fn r20_a_body_over_the_limit_is_413() {
    // API.md does not state the limit; 16 MiB is taken to be over any reasonable one.
    let mut s = populated();
    let huge = "x".repeat(16 * 1024 * 1024);
    let agent = json!({"name": huge}).to_string();
    assert_refused(
        &mut s,
        WATCH,
        "PUT",
        "/v1/agents/big",
        &agent,
        (413, "payload_too_large", &[]),
    );
    let signals = format!(
        "[{}]",
        vec![r#"{"agent": "a", "source": "browser", "event": "activity"}"#; 300_000].join(",")
    );
    assert_refused(
        &mut s,
        WATCH,
        "POST",
        "/v1/signals",
        &signals,
        (413, "payload_too_large", &[]),
    );
    assert_error(
        &s.call("GET", "/v1/agents/big", None),
        404,
        "not_found",
        &["big"],
    );
}

#[test]
fn r20_garbage_never_stops_the_server() {
    let mut s = populated();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_invalid(&mut s, WATCH, "POST", "/v1/signals", &deep, &[]);
    let r = s.call_raw("POST", "/v1/signals", Some(&[0xff, 0xfe, 0x00, 0x7b]));
    assert_error(&r, 400, "invalid_request", &[]);
    assert_invalid(&mut s, WATCH, "PUT", "/v1/agents/a", "null", &[]);
    assert_invalid(
        &mut s,
        WATCH,
        "POST",
        "/v1/channels/web/conversations",
        r#""just a string""#,
        &[],
    );
    assert!(s.is_running());
    assert_eq!(s.get("/v1/agents/a")["id"], "a");
}
