//! Every bad input answers with the API's error shape and changes nothing (SPEC R20,
//! API.md "Errors").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, error};
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_400_invalid_request() {
    let server = TestServer::manual().await;
    let (status, body) = server
        .raw(
            "PUT",
            "/v1/agents/alice",
            b"{\"name\": ".to_vec(),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(error(&body, "invalid_request").contains("malformed JSON"));
    let (status, body) = server
        .raw(
            "PUT",
            "/v1/agents/alice",
            b"{\"name\": \"A\"} trailing".to_vec(),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    error(&body, "invalid_request");
    server
        .expect("GET", "/v1/agents/alice", json!(null), 404)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_and_missing_fields_are_named() {
    let server = TestServer::manual().await;
    let body = server
        .expect(
            "PUT",
            "/v1/agents/alice",
            json!({"name": "A", "team": "x"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("`team`"));
    let body = server
        .expect("PUT", "/v1/agents/alice", json!({"groups": []}), 400)
        .await;
    assert!(error(&body, "invalid_request").contains("`name`"));
    let body = server
        .expect(
            "PUT",
            "/v1/channels/web",
            json!({"name": "W", "max_chats": "five"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("max_chats"));
    let body = server
        .expect(
            "PUT",
            "/v1/channels/web",
            json!({"name": "W", "offer_timeout_seconds": 0}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("offer_timeout_seconds"));
    let body = server
        .expect(
            "PUT",
            "/v1/channels/web",
            json!({"name": "W", "policy": "fastest"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("fastest"));
    server
        .expect("GET", "/v1/channels/web", json!(null), 404)
        .await;
    let body = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"customer": 1}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("customer"));
    let body = server
        .expect("POST", "/v1/conversations/c/transfer", json!({}), 400)
        .await;
    assert!(error(&body, "invalid_request").contains("`to`"));
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let server = TestServer::manual().await;
    let mut big = b"{\"name\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    big.extend(b"\"}");
    let (status, body) = server
        .raw("PUT", "/v1/agents/alice", big, Some("application/json"))
        .await;
    assert_eq!(status, 413);
    error(&body, "payload_too_large");
    server.stop().await;
}

#[tokio::test]
async fn every_body_is_read_as_json_whatever_its_content_type() {
    let server = TestServer::manual().await;
    for (agent, content_type) in [
        ("a1", Some("application/x-www-form-urlencoded")),
        ("a2", Some("text/plain")),
        ("a3", None),
    ] {
        let (status, _) = server
            .raw(
                "PUT",
                &format!("/v1/agents/{agent}"),
                b"{\"name\":\"A\"}".to_vec(),
                content_type,
            )
            .await;
        assert_eq!(status, 201, "content type {content_type:?}");
    }
    let (status, body) = server
        .raw(
            "PUT",
            "/v1/agents/a4",
            b"name=A".to_vec(),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(
        status, 400,
        "a body that is not JSON is a 400 naming the problem"
    );
    error(&body, "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_ids_answer_json() {
    let server = TestServer::manual().await;
    let body = server.expect("GET", "/v1/nothing", json!(null), 404).await;
    error(&body, "not_found");
    let body = server
        .expect("DELETE", "/v1/agents/alice", json!(null), 405)
        .await;
    error(&body, "method_not_allowed");
    let long = "a".repeat(129);
    let body = server
        .expect(
            "PUT",
            &format!("/v1/agents/{long}"),
            json!({"name": "A"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("128"));
    let body = server
        .expect("PUT", "/v1/agents/a%07b", json!({"name": "A"}), 400)
        .await;
    assert!(error(&body, "invalid_request").contains("control"));
    let body = server
        .expect(
            "PUT",
            "/v1/agents/alice",
            json!({"id": "bob", "name": "A"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("does not match"));
    server.stop().await;
}

#[tokio::test]
async fn engine_refusals_map_to_404_409_and_400() {
    let server = TestServer::manual().await;
    server
        .expect("PUT", "/v1/agents/alice", json!({"name": "Alice"}), 201)
        .await;
    server
        .expect(
            "PUT",
            "/v1/channels/web",
            json!({"name": "Web", "queue": ["alice"]}),
            201,
        )
        .await;
    let c = server
        .expect(
            "POST",
            "/v1/channels/web/conversations",
            json!({"id": "c1", "customer": "x"}),
            201,
        )
        .await;
    assert_eq!(
        c["offered_to"],
        json!(["alice"]),
        "check off: every queued agent is eligible (R1)"
    );
    server
        .expect(
            "POST",
            "/v1/conversations/c1/accept",
            json!({"agent": "bob"}),
            404,
        )
        .await;
    server
        .expect("PUT", "/v1/agents/bob", json!({"name": "Bob"}), 201)
        .await;
    let body = server
        .expect(
            "POST",
            "/v1/conversations/c1/accept",
            json!({"agent": "bob"}),
            409,
        )
        .await;
    error(&body, "conflict");
    server
        .expect("POST", "/v1/conversations/c1/close", json!(null), 200)
        .await;
    let body = server
        .expect("POST", "/v1/conversations/c1/close", json!({}), 409)
        .await;
    error(&body, "conflict");
    let body = server
        .expect("POST", "/v1/conversations/nope/close", json!(null), 404)
        .await;
    error(&body, "not_found");
    let body = server
        .expect(
            "POST",
            "/v1/conversations/c1/messages",
            json!({"from": "bot"}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("from"));
    server.stop().await;
}

#[tokio::test]
async fn signals_are_all_or_nothing_and_errors_name_the_index() {
    let server = TestServer::manual().await;
    server
        .expect("PUT", "/v1/agents/alice", json!({"name": "Alice"}), 201)
        .await;
    let body = server
        .expect(
            "POST",
            "/v1/signals",
            json!([
                {"agent": "alice", "source": "browser", "event": "activity"},
                {"agent": "alice", "source": "browser", "event": "teleport"}
            ]),
            400,
        )
        .await;
    let message = error(&body, "invalid_request");
    assert!(
        message.contains("[1]") && message.contains("activity"),
        "{message}"
    );
    let body = server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "ghost", "source": "browser", "event": "activity"}),
            404,
        )
        .await;
    error(&body, "not_found");
    let body = server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "alice", "source": "fax", "event": "ring"}),
            400,
        )
        .await;
    assert!(
        error(&body, "invalid_request").contains("browser"),
        "lists the registered sources"
    );
    let future = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let body = server
        .expect(
            "POST",
            "/v1/signals",
            json!({"agent": "alice", "source": "browser", "event": "activity", "at": future}),
            400,
        )
        .await;
    assert!(error(&body, "invalid_request").contains("future"));
    server.stop().await;
}
