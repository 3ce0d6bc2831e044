//! The API of API.md end to end through the router, on the manual clock (no sleeping).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, setup};
use serde_json::{Value, json};

fn all_sources(queue: &[&str]) -> Value {
    json!({"name": "Web", "check_availability": true, "sources": ["hr", "timesheet", "messenger", "mobile", "browser"],
           "policy": "strict_order", "queue": queue, "max_chats": null, "offer_timeout_seconds": 120})
}

#[tokio::test]
async fn agents_are_created_replaced_and_listed() {
    let server = TestServer::manual().await;
    let agent = server
        .expect(
            "PUT",
            "/v1/agents/alice",
            json!({"name": "Alice", "groups": ["support"], "timezone": "Europe/Berlin"}),
            201,
        )
        .await;
    assert_eq!(
        agent,
        json!({"id": "alice", "name": "Alice", "groups": ["support"], "timezone": "Europe/Berlin", "dismissed": false})
    );
    server
        .expect("PUT", "/v1/agents/alice", json!({"name": "Alice B"}), 200)
        .await;
    let list = server.expect("GET", "/v1/agents", json!(null), 200).await;
    assert_eq!(list["agents"][0]["name"], "Alice B");
    server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "alice", "source": "hr", "event": "dismissed"}),
            200,
        )
        .await;
    assert_eq!(
        server
            .expect("GET", "/v1/agents/alice", json!(null), 200)
            .await["dismissed"],
        true
    );
    server.stop().await;
}

#[tokio::test]
async fn r1_r17_availability_explains_every_verdict() {
    let server = TestServer::manual().await;
    setup(&server, &["alice"], all_sources(&["alice"])).await;
    server.expect("POST", "/v1/signals", json!([{"agent": "alice", "source": "mobile", "event": "foreground"},
                                                 {"agent": "alice", "source": "mobile", "event": "background"}]), 200).await;
    let out = server
        .expect("GET", "/v1/agents/alice/availability", json!(null), 200)
        .await;
    assert_eq!(out["agent"], "alice");
    let web = &out["channels"][0];
    assert_eq!(
        (
            web["channel"].as_str(),
            web["check_availability"].as_bool(),
            web["available"].as_bool()
        ),
        (Some("web"), Some(true), Some(true))
    );
    let verdicts = web["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 5);
    let mobile = verdicts.iter().find(|v| v["source"] == "mobile").unwrap();
    assert_eq!(mobile["verdict"], "online");
    assert!(
        mobile["until"].is_string() && !mobile["reason"].as_str().unwrap().is_empty(),
        "{mobile}"
    );
    for verdict in verdicts {
        let keys: Vec<&String> = verdict.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["reason", "source", "until", "verdict"],
            "no core field names leak"
        );
    }
    server
        .expect("POST", "/v1/clock/advance", json!({"seconds": 600}), 200)
        .await;
    let out = server
        .expect("GET", "/v1/agents/alice/availability", json!(null), 200)
        .await;
    assert_eq!(
        out["channels"][0]["available"], false,
        "R7: offline after the background grace"
    );
    // R1: switching the check off makes the agent eligible again, at once.
    let patched = server
        .expect(
            "PATCH",
            "/v1/channels/web",
            json!({"check_availability": false}),
            200,
        )
        .await;
    assert_eq!(patched["check_availability"], false);
    assert_eq!(
        patched["sources"].as_array().unwrap().len(),
        5,
        "PATCH keeps the other fields"
    );
    let c = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"customer": "c-1"}),
            201,
        )
        .await;
    assert_eq!(c["offered_to"], json!(["alice"]));
    assert!(c["id"].as_str().unwrap().len() >= 32, "a generated uuid");
    server.stop().await;
}

#[tokio::test]
async fn r14c_accepted_then_agent_leaves_customer_spoke_last() {
    let server = TestServer::manual().await;
    setup(&server, &["x", "y"], all_sources(&["x", "y"])).await;
    server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "x", "source": "browser", "event": "activity"}),
            200,
        )
        .await;
    let c = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c1", "customer": "cust", "text": "hi"}),
            201,
        )
        .await;
    assert_eq!(
        (c["state"].as_str(), c["last_message_from"].as_str()),
        (Some("offered"), Some("customer"))
    );
    server
        .expect(
            "POST",
            "/v1/conversations/c1/accept",
            json!({"agent": "x"}),
            200,
        )
        .await;
    server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "y", "source": "browser", "event": "activity"}),
            200,
        )
        .await;
    server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "x", "source": "browser", "event": "close"}),
            200,
        )
        .await;
    let c = server
        .expect("GET", "/v1/conversations/c1", json!(null), 200)
        .await;
    assert_eq!(
        (c["agent"].clone(), c["offered_to"].clone()),
        (Value::Null, json!(["y"]))
    );
    let events: Vec<&str> = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["queued", "offered", "accepted", "requeued", "offered"]
    );
    assert_eq!(c["history"][3]["reason"], "offline");
    assert_eq!(c["history"][3]["agent"], "x");
    assert!(c["history"][0]["at"].as_str().unwrap().ends_with('Z'));
    let y = server
        .expect("GET", "/v1/agents/y/conversations", json!(null), 200)
        .await;
    assert_eq!(y["conversations"][0]["id"], "c1");
    server.stop().await;
}

#[tokio::test]
async fn conversations_are_idempotent_and_queue_in_order() {
    let server = TestServer::manual().await;
    setup(&server, &["alice"], all_sources(&["alice"])).await;
    let first = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c1", "customer": "a"}),
            201,
        )
        .await;
    let again = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c1", "customer": "a"}),
            200,
        )
        .await;
    assert_eq!(first, again);
    server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c2", "customer": "b"}),
            201,
        )
        .await;
    let queue = server
        .expect("GET", "/v1/channels/web/queue", json!(null), 200)
        .await;
    let ids: Vec<&str> = queue["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["c1", "c2"],
        "R10: nobody available, both wait in arrival order"
    );
    server
        .expect("GET", "/v1/channels/nope/queue", json!(null), 404)
        .await;
    server
        .expect(
            "POST",
            "/v1/channels/nope/conversations",
            json!({"customer": "a"}),
            404,
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn transfer_decline_and_messages() {
    let server = TestServer::manual().await;
    setup(
        &server,
        &["a", "b"],
        json!({"name": "Web", "queue": ["a", "b"], "policy": "strict_order"}),
    )
    .await;
    server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c1", "customer": "x"}),
            201,
        )
        .await;
    let c = server
        .expect(
            "POST",
            "/v1/conversations/c1/decline",
            json!({"agent": "a"}),
            200,
        )
        .await;
    assert_eq!(c["offered_to"], json!(["b"]), "R12: declined moves on");
    server
        .expect(
            "POST",
            "/v1/conversations/c1/accept",
            json!({"agent": "b"}),
            200,
        )
        .await;
    let c = server
        .expect(
            "POST",
            "/v1/conversations/c1/messages",
            json!({"from": "agent", "agent": "b", "text": "hello"}),
            200,
        )
        .await;
    assert_eq!(c["last_message_from"], "agent");
    let c = server
        .expect(
            "POST",
            "/v1/conversations/c1/transfer",
            json!({"to": "a"}),
            200,
        )
        .await;
    assert_eq!(
        (c["state"].as_str(), c["offered_to"].clone()),
        (Some("offered"), json!(["a"]))
    );
    let c = server
        .expect(
            "POST",
            "/v1/conversations/c1/transfer",
            json!({"to": null}),
            200,
        )
        .await;
    assert_ne!(c["state"], "accepted");
    let c = server
        .expect("POST", "/v1/conversations/c1/close", json!(null), 200)
        .await;
    assert_eq!(c["state"], "closed");
    server.stop().await;
}
