//! Accountability (SPEC R28), black-box: every accepted settings change is in `GET
//! /v1/audit` with who made it, when and what was asked, a refused one is not; conversation
//! history entries name the caller whose request caused them and `null` for the router's own
//! decisions, also after a crash (replay) and once archived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Entries of the trail after id `after` (`limit` per page), following `next` to the end.
fn audit(s: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = s.get(&format!("/v1/audit?limit=2&after={after}"));
        all.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return all,
        }
    }
}

/// (by, action, target) of each entry.
fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["by"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn entry(by: &str, action: &str, target: &str) -> (String, String, String) {
    (by.into(), action.into(), target.into())
}

#[test]
fn r28_every_settings_change_is_audited_with_its_author() {
    let mut s = Server::builder()
        .extra("[[channels]]\nid = \"cfg\"\nname = \"From the file\"\ncheck_availability = false\nqueue = []\n")
        .start();
    let root = s.create_token("root", "admin", None);
    s.set_token(Some(&root));
    let started = s.now();
    s.put_agent("alice", &[]);
    s.put_group("night", Some(30));
    s.put_channel("web", &["alice"], json!({}));
    s.patch_channel(
        "web",
        json!({"check_availability": false, "max_chats": null}),
    );
    s.advance(5);
    let ops = s.create_token("ops", "supervisor", None);
    s.call_as(
        Some(&ops),
        "PATCH",
        "/v1/channels/web",
        Some(br#"{"check_availability": true}"#),
    );
    s.expect("DELETE", "/v1/tokens/ops", None, &[204]);
    let config = s.dir().join("openline.toml");
    cli_create_token(s.dir(), &config, "integration", "bot");

    // Refused changes are not recorded: a bad body, an unknown channel, a forbidden field.
    s.expect("PUT", "/v1/agents/bob", Some(json!({"groups": []})), &[400]);
    s.expect(
        "PATCH",
        "/v1/channels/nope",
        Some(json!({"name": "x"})),
        &[404],
    );
    let sup = s.create_token("sup", "supervisor", None);
    let r = s.call_as(
        Some(&sup),
        "PATCH",
        "/v1/channels/web",
        Some(br#"{"name": "renamed"}"#),
    );
    assert_eq!(r.status, 403);
    // Reads and routing are not settings changes.
    s.get("/v1/channels/web");
    s.new_conversation("web", "c1");

    let entries = audit(&s);
    assert_eq!(
        summary(&entries),
        [
            entry("config", "channel.put", "cfg"),
            entry("local", "token.create", "root"),
            entry("root", "agent.put", "alice"),
            entry("root", "group.put", "night"),
            entry("root", "channel.put", "web"),
            entry("root", "channel.patch", "web"),
            entry("root", "clock.advance", ""),
            entry("root", "token.create", "ops"),
            entry("ops", "channel.patch", "web"),
            entry("root", "token.revoke", "ops"),
            entry("cli", "token.create", "bot"),
            entry("root", "token.create", "sup"),
        ]
    );
    // What was asked, as asked; when, by the server's clock; ids increasing.
    assert_eq!(
        entries[5]["change"],
        json!({"check_availability": false, "max_chats": null})
    );
    assert_eq!(entries[6]["change"], json!({"seconds": 5}));
    assert_eq!(
        entries[7]["change"],
        json!({"role": "supervisor", "agent": null})
    );
    assert_eq!(
        entries[3]["change"],
        json!({"session_lifetime_minutes": 30})
    );
    assert_eq!(entries[2]["change"]["name"], "ALICE");
    assert_eq!(parse_ts(entries[2]["at"].as_str().unwrap()), started);
    assert_eq!(
        parse_ts(entries[6]["at"].as_str().unwrap()),
        plus(started, 5)
    );
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        !entries.iter().any(|e| e.to_string().contains("olt_")),
        "no secret in the trail"
    );

    // The trail is durable: a crash keeps it whole.
    s.crash_and_restart();
    assert_eq!(summary(&audit(&s)), summary(&entries));
}

#[test]
fn r28_audit_paging_and_bad_parameters() {
    let s = Server::start();
    for n in 0..5 {
        s.put_agent(&format!("a{n}"), &[]);
    }
    let first = s.get("/v1/audit?limit=3");
    assert_eq!(first["entries"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().expect("more to come").to_owned();
    let rest = s.get(&format!("/v1/audit?after={next}"));
    assert_eq!(rest["entries"].as_array().unwrap().len(), 2);
    assert_eq!(rest["next"], Value::Null, "the last page");
    assert_eq!(rest["entries"][0]["target"], "a3");
    let exactly = s.get("/v1/audit?limit=5");
    assert_eq!(exactly["entries"].as_array().unwrap().len(), 5);
    assert_eq!(
        exactly["next"],
        Value::Null,
        "a full last page says it is the last"
    );
    for bad in ["limit=0", "limit=1001", "limit=x", "after=-1", "after=abc"] {
        let r = s.call("GET", &format!("/v1/audit?{bad}"), None);
        assert_error(&r, 400, "invalid_request", &[]);
    }
}

/// The `by` of each history entry of `conv`, as (event, by).
fn actors(conv: &Value) -> Vec<(String, Value)> {
    conv["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["event"].as_str().unwrap().to_owned(), h["by"].clone()))
        .collect()
}

fn by(event: &str, who: Option<&str>) -> (String, Value) {
    (event.into(), who.map_or(Value::Null, |w| json!(w)))
}

#[test]
fn r28_history_entries_name_the_caller_and_survive_replay_and_archive() {
    let mut s = Server::start();
    let root = s.create_token("root", "admin", None);
    s.set_token(Some(&root));
    s.put_agent("alice", &[]);
    s.put_channel("web", &["alice"], json!({"check_availability": false}));
    let widget = s.create_token("widget", "integration", None);
    let phone = s.create_token("alice-phone", "agent", Some("alice"));
    let open = s.call_as(
        Some(&widget),
        "POST",
        "/v1/channels/web/conversations",
        Some(br#"{"id": "c1", "customer": "cust", "text": "hi"}"#),
    );
    assert_eq!(open.status, 201, "{}", open.text());
    let accepted = s.call_as(
        Some(&phone),
        "POST",
        "/v1/conversations/c1/accept",
        Some(br#"{"agent": "alice"}"#),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let expected = vec![
        by("queued", Some("widget")),
        by("offered", None),
        by("accepted", Some("alice-phone")),
    ];
    assert_eq!(actors(&s.conversation("c1")), expected);

    s.crash_and_restart();
    assert_eq!(
        actors(&s.conversation("c1")),
        expected,
        "the log keeps the actors"
    );

    s.close("c1");
    let mut expected = expected;
    expected.push(by("closed", Some("root")));
    assert_eq!(actors(&s.conversation("c1")), expected);
    // Archived (closed for longer than `retention.closed_in_memory`), read from the store.
    s.advance(2 * 3600);
    s.crash_and_restart();
    assert_eq!(
        actors(&s.conversation("c1")),
        expected,
        "the archive keeps the actors"
    );
}
