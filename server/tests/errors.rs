//! Every bad input answers with the API's error shape and changes nothing (SPEC R20,
//! API.md "Errors").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, error};
use serde_json::{Value, json};

/// A request that must be refused as `400 invalid_request` with a message containing
/// `needle`: method, path, body, needle.
type Invalid<'a> = (&'a str, &'a str, Value, &'a str);

/// Sends each request of `cases` and checks its 400 `invalid_request` names its needle.
async fn assert_each_invalid(server: &TestServer, cases: Vec<Invalid<'_>>) {
    for (method, path, body, needle) in cases {
        let message = server
            .refused(method, path, body, 400, "invalid_request")
            .await;
        assert!(
            message.contains(needle),
            "{method} {path}: `{needle}` not in {message:?}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_400_invalid_request() {
    let server = TestServer::manual().await;
    let json = Some("application/json");
    let (status, body) = server
        .raw("PUT", "/v1/agents/alice", b"{\"name\": ".to_vec(), json)
        .await;
    assert_eq!(status, 400);
    assert!(error(&body, "invalid_request").contains("malformed JSON"));
    let trailing = b"{\"name\": \"A\"} trailing".to_vec();
    let (status, body) = server.raw("PUT", "/v1/agents/alice", trailing, json).await;
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
    let agent = "/v1/agents/alice";
    let channel = "/v1/channels/web";
    assert_each_invalid(
        &server,
        vec![
            ("PUT", agent, json!({"name": "A", "team": "x"}), "`team`"),
            ("PUT", agent, json!({"groups": []}), "`name`"),
            (
                "PUT",
                channel,
                json!({"name": "W", "max_chats": "five"}),
                "max_chats",
            ),
            (
                "PUT",
                channel,
                json!({"name": "W", "offer_timeout_seconds": 0}),
                "offer_timeout_seconds",
            ),
            (
                "PUT",
                channel,
                json!({"name": "W", "policy": "fastest"}),
                "fastest",
            ),
        ],
    )
    .await;
    server.expect("GET", channel, json!(null), 404).await;
    assert_each_invalid(
        &server,
        vec![
            (
                "POST",
                "/v1/channels/web/conversations",
                json!({"customer": 1}),
                "customer",
            ),
            ("POST", "/v1/conversations/c/transfer", json!({}), "`to`"),
        ],
    )
    .await;
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
async fn r27_a_body_must_be_declared_json_so_no_web_page_can_post_one_without_preflight() {
    let server = TestServer::manual().await;
    let body = || b"{\"name\":\"A\"}".to_vec();
    // What a cross-site "simple" request can send: refused, nothing created.
    for (agent, content_type) in [
        ("a1", Some("application/x-www-form-urlencoded")),
        ("a2", Some("text/plain")),
        ("a3", Some("text/plain; charset=application/json")),
        ("a4", None),
    ] {
        let path = format!("/v1/agents/{agent}");
        let (status, answer) = server.raw("PUT", &path, body(), content_type).await;
        assert_eq!(status, 415, "content type {content_type:?}");
        error(&answer, "unsupported_media_type");
        let (status, _) = server.raw("GET", &path, Vec::new(), None).await;
        assert_eq!(status, 404, "{agent} must not exist");
    }
    for (agent, content_type) in [
        ("b1", "application/json"),
        ("b2", "Application/JSON; charset=utf-8"),
    ] {
        let path = format!("/v1/agents/{agent}");
        let (status, _) = server.raw("PUT", &path, body(), Some(content_type)).await;
        assert_eq!(status, 201, "content type {content_type:?}");
    }
    // No body at all needs no content type (e.g. closing a conversation).
    let (status, answer) = server
        .raw("POST", "/v1/conversations/none/close", Vec::new(), None)
        .await;
    assert_eq!(status, 404, "reached the handler: {answer}");
    let json = Some("application/json");
    let (status, answer) = server
        .raw("PUT", "/v1/agents/b3", b"name=A".to_vec(), json)
        .await;
    assert_eq!(
        status, 400,
        "a body that is not JSON is a 400 naming the problem"
    );
    error(&answer, "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_ids_answer_json() {
    let server = TestServer::manual().await;
    server
        .refused("GET", "/v1/nothing", json!(null), 404, "not_found")
        .await;
    server
        .refused(
            "DELETE",
            "/v1/agents/alice",
            json!(null),
            405,
            "method_not_allowed",
        )
        .await;
    let long = format!("/v1/agents/{}", "a".repeat(129));
    assert_each_invalid(
        &server,
        vec![
            ("PUT", &long, json!({"name": "A"}), "128"),
            ("PUT", "/v1/agents/a%07b", json!({"name": "A"}), "control"),
            (
                "PUT",
                "/v1/agents/alice",
                json!({"id": "bob", "name": "A"}),
                "does not match",
            ),
        ],
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn engine_refusals_map_to_404_409_and_400() {
    let server = TestServer::manual().await;
    server.create_agent("alice", "Alice").await;
    let web = json!({"name": "Web", "queue": ["alice"]});
    server.expect("PUT", "/v1/channels/web", web, 201).await;
    let c = server.open(json!({"id": "c1", "customer": "x"}), 201).await;
    assert_eq!(
        c["offered_to"],
        json!(["alice"]),
        "check off: every queued agent is eligible (R1)"
    );
    server
        .act("c1", "accept", json!({"agent": "bob"}), 404)
        .await;
    server.create_agent("bob", "Bob").await;
    let accept = "/v1/conversations/c1/accept";
    server
        .refused("POST", accept, json!({"agent": "bob"}), 409, "conflict")
        .await;
    server.act("c1", "close", json!(null), 200).await;
    for (path, body, status, code) in [
        ("/v1/conversations/c1/close", json!({}), 409, "conflict"),
        (
            "/v1/conversations/nope/close",
            json!(null),
            404,
            "not_found",
        ),
    ] {
        server.refused("POST", path, body, status, code).await;
    }
    let bot = json!({"from": "bot"});
    let messages = "/v1/conversations/c1/messages";
    let message = server
        .refused("POST", messages, bot, 400, "invalid_request")
        .await;
    assert!(message.contains("from"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn signals_are_all_or_nothing_and_errors_name_the_index() {
    let server = TestServer::manual().await;
    server.create_agent("alice", "Alice").await;
    let batch = json!([
        {"agent": "alice", "source": "browser", "event": "activity"},
        {"agent": "alice", "source": "browser", "event": "teleport"}
    ]);
    let message = server
        .refused("POST", "/v1/signals", batch, 400, "invalid_request")
        .await;
    assert!(
        message.contains("[1]") && message.contains("activity"),
        "{message}"
    );
    let ghost = json!({"agent": "ghost", "source": "browser", "event": "activity"});
    server
        .refused("POST", "/v1/signals", ghost, 404, "not_found")
        .await;
    let future = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    assert_each_invalid(
        &server,
        vec![
            // The message lists the registered sources.
            (
                "POST",
                "/v1/signals",
                json!({"agent": "alice", "source": "fax", "event": "ring"}),
                "browser",
            ),
            (
                "POST",
                "/v1/signals",
                json!({"agent": "alice", "source": "browser", "event": "activity", "at": future}),
                "future",
            ),
        ],
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn r27_without_authentication_only_loopback_host_names_are_answered() {
    let server = TestServer::manual().await;
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST",
        "[::1]:8080",
        "127.1.2.3",
    ] {
        let (status, body) = server.get_as_host("/v1/agents", host).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in [
        "evil.example:8080",
        "evil.example",
        "10.0.0.1",
        "[::2]:80",
        "127.0.0.1.evil.example",
    ] {
        let (status, body) = server.get_as_host("/v1/agents", host).await;
        assert_eq!(status, 403, "{host}: {body}");
        error(&body, "forbidden");
    }
    server.stop().await;
}
