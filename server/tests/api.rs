//! The API of API.md end to end through the router, on the manual clock (no sleeping).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, history_events, setup};
use serde_json::{Value, json};

fn all_sources(queue: &[&str]) -> Value {
    json!({"name": "Web", "check_availability": true, "sources": ["hr", "timesheet", "messenger", "mobile", "browser"],
           "policy": "strict_order", "queue": queue, "max_chats": null, "offer_timeout_seconds": 120})
}

#[tokio::test]
async fn agents_are_created_replaced_and_listed() {
    let server = TestServer::manual().await;
    let alice = json!({"name": "Alice", "groups": ["support"], "timezone": "Europe/Berlin"});
    let agent = server.expect("PUT", "/v1/agents/alice", alice, 201).await;
    assert_eq!(
        agent,
        json!({"id": "alice", "name": "Alice", "groups": ["support"], "timezone": "Europe/Berlin", "dismissed": false})
    );
    server
        .expect("PUT", "/v1/agents/alice", json!({"name": "Alice B"}), 200)
        .await;
    let list = server.get("/v1/agents").await;
    assert_eq!(list["agents"][0]["name"], "Alice B");
    server
        .signal(json!({"agent": "alice", "source": "hr", "event": "dismissed"}))
        .await;
    assert_eq!(server.get("/v1/agents/alice").await["dismissed"], true);
    server.stop().await;
}

#[tokio::test]
async fn r1_r17_availability_explains_every_verdict() {
    let server = TestServer::manual().await;
    setup(&server, &["alice"], all_sources(&["alice"])).await;
    server
        .signal(
            json!([{"agent": "alice", "source": "mobile", "event": "foreground"},
                         {"agent": "alice", "source": "mobile", "event": "background"}]),
        )
        .await;
    let out = server.get("/v1/agents/alice/availability").await;
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
    server.advance(600).await;
    let out = server.get("/v1/agents/alice/availability").await;
    assert_eq!(
        out["channels"][0]["available"], false,
        "R7: offline after the background grace"
    );
    // R1: switching the check off makes the agent eligible again, at once.
    let check_off = json!({"check_availability": false});
    let patched = server
        .expect("PATCH", "/v1/channels/web", check_off, 200)
        .await;
    assert_eq!(patched["check_availability"], false);
    assert_eq!(
        patched["sources"].as_array().unwrap().len(),
        5,
        "PATCH keeps the other fields"
    );
    let c = server.open(json!({"customer": "c-1"}), 201).await;
    assert_eq!(c["offered_to"], json!(["alice"]));
    assert!(c["id"].as_str().unwrap().len() >= 32, "a generated uuid");
    server.stop().await;
}

#[tokio::test]
async fn r14c_accepted_then_agent_leaves_customer_spoke_last() {
    let server = TestServer::manual().await;
    setup(&server, &["x", "y"], all_sources(&["x", "y"])).await;
    let browser =
        |agent: &str, event: &str| json!({"agent": agent, "source": "browser", "event": event});
    server.signal(browser("x", "activity")).await;
    let c = server
        .open(json!({"id": "c1", "customer": "cust", "text": "hi"}), 201)
        .await;
    assert_eq!(
        (c["state"].as_str(), c["last_message_from"].as_str()),
        (Some("offered"), Some("customer"))
    );
    server.act("c1", "accept", json!({"agent": "x"}), 200).await;
    server.signal(browser("y", "activity")).await;
    server.signal(browser("x", "close")).await;
    let c = server.get("/v1/conversations/c1").await;
    assert_eq!(
        (c["agent"].clone(), c["offered_to"].clone()),
        (Value::Null, json!(["y"]))
    );
    assert_eq!(
        history_events(&c),
        ["queued", "offered", "accepted", "requeued", "offered"]
    );
    assert_eq!(c["history"][3]["reason"], "offline");
    assert_eq!(c["history"][3]["agent"], "x");
    assert!(c["history"][0]["at"].as_str().unwrap().ends_with('Z'));
    let y = server.get("/v1/agents/y/conversations").await;
    assert_eq!(y["conversations"][0]["id"], "c1");
    server.stop().await;
}

#[tokio::test]
async fn conversations_are_idempotent_and_queue_in_order() {
    let server = TestServer::manual().await;
    setup(&server, &["alice"], all_sources(&["alice"])).await;
    let first = server.open(json!({"id": "c1", "customer": "a"}), 201).await;
    let again = server.open(json!({"id": "c1", "customer": "a"}), 200).await;
    assert_eq!(first, again);
    server.open(json!({"id": "c2", "customer": "b"}), 201).await;
    let queue = server.get("/v1/channels/web/queue").await;
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
    let elsewhere = json!({"customer": "a"});
    server
        .expect("POST", "/v1/channels/nope/conversations", elsewhere, 404)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn transfer_decline_and_messages() {
    let server = TestServer::manual().await;
    let web = json!({"name": "Web", "queue": ["a", "b"], "policy": "strict_order"});
    setup(&server, &["a", "b"], web).await;
    server.open(json!({"id": "c1", "customer": "x"}), 201).await;
    let c = server
        .act("c1", "decline", json!({"agent": "a"}), 200)
        .await;
    assert_eq!(c["offered_to"], json!(["b"]), "R12: declined moves on");
    server.act("c1", "accept", json!({"agent": "b"}), 200).await;
    let hello = json!({"from": "agent", "agent": "b", "text": "hello"});
    let c = server.act("c1", "messages", hello, 200).await;
    assert_eq!(c["last_message_from"], "agent");
    let c = server.act("c1", "transfer", json!({"to": "a"}), 200).await;
    assert_eq!(
        (c["state"].as_str(), c["offered_to"].clone()),
        (Some("offered"), json!(["a"]))
    );
    let c = server.act("c1", "transfer", json!({"to": null}), 200).await;
    assert_ne!(c["state"], "accepted");
    let c = server.act("c1", "close", json!(null), 200).await;
    assert_eq!(c["state"], "closed");
    server.stop().await;
}
