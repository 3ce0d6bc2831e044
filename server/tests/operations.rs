//! Operations, time and events through the router: groups, the clock (SPEC R18), plugins,
//! health, metrics and SSE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, setup};
use serde_json::{Value, json};

#[tokio::test]
async fn groups_clock_plugins_and_operations() {
    let server = TestServer::manual().await;
    let lifetime = json!({"session_lifetime_minutes": 30});
    let g = server
        .expect("PUT", "/v1/groups/support", lifetime, 200)
        .await;
    assert_eq!(g, json!({"id": "support", "session_lifetime_minutes": 30}));
    assert_eq!(server.get("/v1/groups/support").await, g);
    server
        .expect("GET", "/v1/groups/none", json!(null), 404)
        .await;

    let before = server.get("/v1/clock").await;
    assert_eq!(before["mode"], "manual");
    let after = server.advance(300).await;
    let t0 = chrono::DateTime::parse_from_rfc3339(before["now"].as_str().unwrap()).unwrap();
    let t1 = chrono::DateTime::parse_from_rfc3339(after["now"].as_str().unwrap()).unwrap();
    assert_eq!((t1 - t0).num_seconds(), 300);
    for bad in [
        json!({"seconds": 0}),
        json!({"seconds": 1.5}),
        json!({"seconds": -3}),
        json!({}),
    ] {
        server
            .refused("POST", "/v1/clock/advance", bad, 400, "invalid_request")
            .await;
    }

    let plugins = server.get("/v1/plugins").await;
    assert_eq!(
        plugins["sources"],
        json!(["browser", "hr", "messenger", "mobile", "timesheet"])
    );
    server.get("/healthz").await;
    server.get("/readyz").await;
    server.stop().await;
}

#[tokio::test]
async fn metrics_expose_gauges_and_counters() {
    let server = TestServer::manual().await;
    setup(
        &server,
        &["a"],
        json!({"name": "Web", "queue": ["a"], "check_availability": true, "sources": ["browser"]}),
    )
    .await;
    server.open(json!({"id": "c1", "customer": "x"}), 201).await;
    server
        .expect("PUT", "/v1/agents/b", json!({"name": 7}), 400)
        .await;
    let (status, text) = server.call("GET", "/metrics", json!(null)).await;
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_owned();
    for line in [
        "openline_queue_length{channel=\"web\"} 1",
        "openline_conversations{state=\"queued\"} 1",
        "openline_events_total{type=\"conversation.queued\"} 1",
        "openline_queue_oldest_wait_seconds{channel=\"web\"}",
        "openline_http_requests_total{method=\"PUT\",route=\"/v1/agents/{id}\",status=\"201\"} 1",
        "openline_http_requests_total{method=\"PUT\",route=\"/v1/agents/{id}\",status=\"400\"} 1",
        "openline_http_requests_total{method=\"POST\",route=\"/v1/channels/{id}/conversations\",status=\"201\"} 1",
        "openline_http_request_duration_seconds_bucket{method=\"PUT\",route=\"/v1/agents/{id}\",le=\"+Inf\"} 2",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn sse_subscribers_get_committed_events_in_order() {
    let server = TestServer::manual().await;
    let mut events = server.started.runtime.events().subscribe();
    setup(&server, &["a"], json!({"name": "Web", "queue": ["a"]})).await;
    server.open(json!({"id": "c1", "customer": "x"}), 201).await;
    // The settings changes of the setup first (API.md third wave "Events"), then routing.
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(events.recv().await.unwrap().kind());
    }
    assert_eq!(
        kinds,
        ["agent.changed", "channel.changed", "conversation.queued"]
    );
    let second = events.recv().await.unwrap();
    assert_eq!(second.kind(), "conversation.offered");
    let data: Value = serde_json::from_str(second.data()).unwrap();
    assert_eq!(
        (data["type"].as_str(), data["agent"].as_str()),
        (Some("conversation.offered"), Some("a"))
    );
    server
        .refused(
            "GET",
            "/v1/events?bogus=1",
            json!(null),
            400,
            "invalid_request",
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn the_system_clock_cannot_be_advanced() {
    let db = common::TempDb::new();
    let settings = common::settings(db.path(), openline_server::config::ClockMode::System);
    let server = TestServer::start(&settings).await;
    let five = json!({"seconds": 5});
    server
        .refused("POST", "/v1/clock/advance", five, 409, "conflict")
        .await;
    assert_eq!(server.get("/v1/clock").await["mode"], "system");
    server.stop().await;
}
