//! The conversation, agent, channel and plugin resources of API.md beyond the routing rules:
//! idempotent creation, transfer, close, listings and their shapes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

#[test]
fn posting_the_same_conversation_id_twice_creates_one_conversation() {
    let s = clocked_in_on_web(&["a"], json!({"max_chats": 1}));
    let body = json!({"id": "retry-1", "customer": "c-42", "text": "hello"});
    let first = s.expect(
        "POST",
        "/v1/channels/web/conversations",
        Some(body.clone()),
        &[201],
    );
    let second = s.expect("POST", "/v1/channels/web/conversations", Some(body), &[200]);
    assert_eq!(first["id"], "retry-1");
    assert_eq!(
        second,
        s.conversation("retry-1"),
        "the retry answers the existing conversation"
    );
    assert_offered(&second, &["a"]);
    assert_eq!(s.agent_conversations("a"), ["retry-1"]);
    let offers = history(&second)
        .iter()
        .filter(|(e, _, _)| e == "offered")
        .count();
    assert_eq!(offers, 1, "nothing duplicated: {:#}", second["history"]);
    // The next conversation is not blocked by a phantom second copy of the first.
    assert_waiting(&s.new_conversation("web", "other"));
    assert_eq!(s.queue("web"), ["other"]);
}

#[test]
fn concurrent_retries_of_the_same_conversation_id_create_it_once() {
    let s = Server::start();
    s.put_channel("web", &[], json!({}));
    let port = s.port;
    let statuses: Vec<Vec<u16>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    (0..20)
                        .map(|i| {
                            let body =
                                json!({"id": format!("r{i}"), "customer": "c", "text": "hi"})
                                    .to_string();
                            let path = "/v1/channels/web/conversations";
                            openline_tests::http::send(port, "POST", path, Some(body.as_bytes()))
                                .unwrap()
                                .status
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for i in 0..20 {
        let mut per_id: Vec<u16> = statuses.iter().map(|w| w[i]).collect();
        per_id.sort_unstable();
        assert_eq!(
            per_id,
            [200, 200, 200, 201],
            "r{i}: exactly one creation among concurrent retries"
        );
    }
    let queue = s.queue("web");
    assert_eq!(queue.len(), 20, "{queue:?}");
}

#[test]
fn a_conversation_without_client_id_gets_one_and_has_the_documented_shape() {
    let s = Server::start();
    s.put_channel("web", &[], json!({}));
    let c = s.expect(
        "POST",
        "/v1/channels/web/conversations",
        Some(json!({"customer": "c-1"})),
        &[201],
    );
    let id = c["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {c}"))
        .to_owned();
    assert!(!id.is_empty());
    for field in [
        "id",
        "channel",
        "customer",
        "state",
        "agent",
        "offered_to",
        "last_message_from",
        "queued_at",
        "history",
    ] {
        assert!(
            c.get(field).is_some(),
            "conversation lacks `{field}`: {c:#}"
        );
    }
    assert_eq!(c["channel"], "web");
    assert_eq!(c["customer"], "c-1");
    assert!(c["last_message_from"].is_null(), "no first message: {c}");
    assert_eq!(s.conversation(&id), c);
    assert_eq!(s.queue("web"), [id]);
    let second = s.expect(
        "POST",
        "/v1/channels/web/conversations",
        Some(json!({"customer": "c-1"})),
        &[201],
    );
    assert_ne!(
        second["id"], c["id"],
        "without a client id every POST is a new conversation"
    );
}

#[test]
fn messages_track_who_wrote_last() {
    let s = clocked_in_on_web(&["a"], json!({}));
    assert_eq!(
        s.new_conversation("web", "c1")["last_message_from"],
        "customer"
    );
    s.accept("c1", "a");
    assert_eq!(s.agent_says("c1", "a")["last_message_from"], "agent");
    assert_eq!(s.customer_says("c1")["last_message_from"], "customer");
    assert_eq!(s.conversation("c1")["last_message_from"], "customer");
}

#[test]
fn transfer_to_an_agent_offers_it_and_to_null_returns_it_to_the_queue() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    s.new_conversation("web", "c1");
    s.accept("c1", "a");
    let c1 = s.transfer("c1", Some("b"));
    assert_offered(&c1, &["b"]);
    assert!(s.agent_conversations("a").is_empty());
    s.accept("c1", "b");
    s.signal("a", "timesheet", "pause"); // so that nobody else can take it when it returns
    let c1 = s.transfer("c1", None);
    assert!(c1["agent"].is_null(), "{c1:#}");
    assert!(
        c1["state"] == "queued" || c1["state"] == "offered",
        "{c1:#}"
    );
    let recorded = history(&c1)
        .iter()
        .filter(|(event, _, reason)| event == "transferred" && reason == "transferred")
        .count();
    assert_eq!(recorded, 2, "both transfers recorded: {:#}", c1["history"]);
}

#[test]
fn closing_frees_the_agent_and_lists_reflect_it() {
    let s = clocked_in_on_web(&["a"], json!({}));
    s.new_conversation("web", "c1");
    s.new_conversation("web", "c2");
    assert_eq!(s.agent_conversations("a"), ["c1", "c2"]);
    s.accept("c1", "a");
    let closed = s.close("c1");
    assert_eq!(closed["state"], "closed");
    assert_history_in_order(&closed, &[("accepted", "a"), ("closed", "")]);
    assert_eq!(s.agent_conversations("a"), ["c2"]);
}

#[test]
fn agents_channels_and_groups_read_back_as_written() {
    let s = Server::start();
    let body = json!({"name": "Alice", "groups": ["support"], "timezone": "Europe/Berlin"});
    let created = s.expect("PUT", "/v1/agents/alice", Some(body.clone()), &[201]);
    assert_eq!(created["name"], "Alice");
    let replaced = s.expect(
        "PUT",
        "/v1/agents/alice",
        Some(json!({"name": "Alice B."})),
        &[200],
    );
    assert_eq!(replaced["name"], "Alice B.");
    let alice = s.get("/v1/agents/alice");
    assert_eq!(alice["id"], "alice");
    assert_eq!(alice["dismissed"], false);
    assert_eq!(alice["name"], "Alice B.");
    assert_eq!(ids(&s.get("/v1/agents")["agents"]), ["alice"]);

    let channel = s.put_channel(
        "web",
        &["alice", "bob"],
        json!({"max_chats": 5, "policy": "evenly"}),
    );
    for (field, value) in [
        ("name", json!("Channel web")),
        ("max_chats", json!(5)),
        ("policy", json!("evenly")),
        ("queue", json!(["alice", "bob"])),
    ] {
        assert_eq!(
            channel[field], value,
            "PUT answers the channel: {channel:#}"
        );
    }
    assert_eq!(
        sorted_strings(&channel["sources"]),
        sorted_strings(&json!(ALL_SOURCES))
    );
    let patched = s.patch_channel("web", json!({"max_chats": null}));
    assert!(patched["max_chats"].is_null());
    assert_eq!(
        patched["policy"], "evenly",
        "PATCH leaves other fields alone"
    );
    assert_eq!(ids(&s.get("/v1/channels")["channels"]), ["web"]);
    let replaced = s.put_channel("web", &["bob"], json!({}));
    assert_eq!(replaced["queue"], json!(["bob"]));
    assert_eq!(
        s.call("PUT", "/v1/channels/web", Some(&replaced_body()))
            .status,
        200,
        "a replaced channel answers 200"
    );
}

fn replaced_body() -> Value {
    json!({"name": "Web", "check_availability": false, "sources": ["hr"], "policy": "strict_order", "queue": [],
           "max_chats": null, "offer_timeout_seconds": 60})
}

#[test]
fn plugins_endpoint_lists_the_bundled_sources_and_policies() {
    let s = Server::start();
    let plugins = s.get("/v1/plugins");
    let mut want_sources: Vec<&str> = ALL_SOURCES.to_vec();
    want_sources.sort_unstable();
    let mut want_policies: Vec<&str> = ALL_POLICIES.to_vec();
    want_policies.sort_unstable();
    assert_eq!(
        sorted_strings(&plugins["sources"]),
        want_sources,
        "{plugins}"
    );
    assert_eq!(
        sorted_strings(&plugins["policies"]),
        want_policies,
        "{plugins}"
    );
}

#[test]
fn operations_endpoints_answer() {
    let s = Server::start();
    assert_eq!(s.call("GET", "/healthz", None).status, 200);
    assert_eq!(s.call("GET", "/readyz", None).status, 200);
    let metrics = s.call("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text()
            .lines()
            .any(|l| l.starts_with("# TYPE") || l.starts_with("# HELP")),
        "Prometheus text: {}",
        metrics.text()
    );
}

#[test]
fn r21b_r21d_a_conversation_says_when_it_closed_and_how_much_history_was_dropped() {
    let s = Server::start();
    s.put_agent("a", &[]);
    s.put_channel("web", &["a"], json!({"check_availability": false}));
    let open = s.new_conversation("web", "c1");
    assert_eq!(open["history_omitted"], 0);
    assert!(open["closed_at"].is_null(), "{open}");
    s.advance(30);
    let closed = s.close("c1");
    assert_eq!(closed["closed_at"], ts(s.now()));
    assert_eq!(closed["history_omitted"], 0);
    assert_eq!(s.conversation("c1")["closed_at"], closed["closed_at"]);
}
