//! SPEC R19: an acknowledged write survives a restart (the command log is replayed), and
//! deadlines that fell due while the server was down are processed on start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TempDb, TestServer, history_events, manual_store, settings};
use openline_core::{AgentProfile, ChannelSettings, Command};
use openline_server::channel::ChannelBody;
use openline_server::config::ClockMode;
use openline_server::store::{Record, Store};
use serde_json::json;

async fn snapshot(server: &TestServer) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for path in [
        "/v1/agents",
        "/v1/channels",
        "/v1/conversations/c1",
        "/v1/conversations/c2",
        "/v1/clock",
        "/v1/agents/x/availability",
        "/v1/groups/g",
        "/v1/channels/web/queue",
    ] {
        all.push(server.get(path).await);
    }
    all
}

#[tokio::test]
async fn r19_state_survives_a_restart() {
    let (_db, config) = manual_store();
    let server = TestServer::start(&config).await;
    for agent in ["x", "y"] {
        server
            .expect(
                "PUT",
                &format!("/v1/agents/{agent}"),
                json!({"name": agent, "groups": ["g"]}),
                201,
            )
            .await;
    }
    let channel = json!({"name": "Web", "check_availability": true, "sources": ["hr", "mobile", "browser"],
                         "policy": "strict_order", "queue": ["x", "y"], "max_chats": 3});
    server.expect("PUT", "/v1/channels/web", channel, 201).await;
    server
        .expect(
            "PUT",
            "/v1/groups/g",
            json!({"session_lifetime_minutes": 20}),
            200,
        )
        .await;
    server
        .signal(
            json!([{"agent": "x", "source": "mobile", "event": "foreground"},
                         {"agent": "x", "source": "mobile", "event": "background"}]),
        )
        .await;
    let c1 = json!({"id": "c1", "customer": "a", "text": "hi"});
    server.open(c1, 201).await;
    server.act("c1", "accept", json!({"agent": "x"}), 200).await;
    server.open(json!({"id": "c2", "customer": "b"}), 201).await;
    server.advance(60).await;
    let before = snapshot(&server).await;
    assert!(server.stop().await);

    let server = TestServer::start(&config).await;
    assert_eq!(
        snapshot(&server).await,
        before,
        "same agents, channels, conversations, clock"
    );
    // The pending deadline survived: x's background grace ends 5 min after it began.
    server.advance(300).await;
    let c1 = server.get("/v1/conversations/c1").await;
    assert_eq!(c1["agent"], json!(null), "R14c after the grace: requeued");
    let last = c1["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["event"].as_str(), last["reason"].as_str()),
        (Some("requeued"), Some("offline"))
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn r19_deadlines_due_while_down_are_processed_on_start() {
    let db = TempDb::new();
    let config = settings(db.path(), ClockMode::System);
    let store = Store::connect(&config.store.url).await.unwrap();
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let commands = [
        Command::PutAgent {
            id: "a".try_into().unwrap(),
            profile: AgentProfile {
                name: "A".into(),
                groups: vec![],
                timezone: None,
            },
        },
        Command::PutChannel {
            id: "web".try_into().unwrap(),
            settings: ChannelSettings {
                name: "Web".into(),
                check_availability: false,
                sources: vec![],
                policy: "strict_order".into(),
                queue: vec!["a".try_into().unwrap()],
                max_chats: None,
                offer_timeout: Duration::from_secs(60),
            },
        },
        Command::OpenConversation {
            channel: "web".try_into().unwrap(),
            id: "c1".try_into().unwrap(),
            customer: "x".into(),
            with_message: true,
        },
    ];
    let records: Vec<Record> = commands
        .iter()
        .map(|c| Record::Command {
            at: long_ago,
            json: serde_json::to_string(c).unwrap(),
            by: None,
        })
        .collect();
    let epoch = store.claim().await.unwrap();
    store.write(epoch, 1, &records, false).await.unwrap();
    store.close().await;

    let server = TestServer::start(&config).await;
    let c1 = server.get("/v1/conversations/c1").await;
    let events = history_events(&c1);
    assert_eq!(&events[..3], ["queued", "offered", "offer_expired"], "{c1}");
    let expired =
        chrono::DateTime::parse_from_rfc3339(c1["history"][2]["at"].as_str().unwrap()).unwrap();
    assert_eq!(
        (expired.to_utc() - long_ago).num_seconds(),
        60,
        "processed at its own instant"
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn config_channels_are_applied_at_start_and_the_file_wins() {
    let (_db, mut config) = manual_store();
    let body: ChannelBody =
        serde_json::from_value(json!({"id": "web", "name": "Web", "queue": ["a"]})).unwrap();
    config.channels = vec![body];
    let server = TestServer::start(&config).await;
    assert_eq!(server.get("/v1/channels/web").await["queue"], json!(["a"]));
    server
        .expect("PATCH", "/v1/channels/web", json!({"queue": ["b"]}), 200)
        .await;
    assert!(server.stop().await);

    let server = TestServer::start(&config).await;
    assert_eq!(
        server.get("/v1/channels/web").await["queue"],
        json!(["a"]),
        "the file wins"
    );
    assert!(server.stop().await);
    let store = Store::connect(&config.store.url).await.unwrap();
    let logged = store.last_seq().await.unwrap();
    store.close().await;
    let server = TestServer::start(&config).await;
    assert!(server.stop().await);
    let store = Store::connect(&config.store.url).await.unwrap();
    assert_eq!(
        store.last_seq().await.unwrap(),
        logged,
        "an unchanged channel is not logged again"
    );
    store.close().await;
}

#[tokio::test]
async fn a_failed_commit_answers_503_and_stops_the_server() {
    let (db, config) = manual_store();
    let server = TestServer::start(&config).await;
    let runtime = server.started.runtime.clone();
    let shutdown = runtime.shutdown_signal();
    // The log's table disappears under the writer: its next commit fails.
    sqlx::any::install_default_drivers();
    let other = sqlx::AnyPool::connect(&format!("sqlite://{}", db.path().display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE openline_command_log RENAME TO openline_hidden_log")
        .execute(&other)
        .await
        .unwrap();
    let body = server
        .expect("PUT", "/v1/agents/a", json!({"name": "A"}), 503)
        .await;
    common::error(&body, "unavailable");
    assert!(*shutdown.borrow(), "fail-stop: the server shuts down");
    server
        .expect("PUT", "/v1/agents/b", json!({"name": "B"}), 503)
        .await;
    server.expect("GET", "/readyz", json!(null), 503).await;
    assert!(
        !server.stop().await,
        "a store failure makes the process exit non-zero"
    );
    // The log comes back as it was: the refused write is not in it.
    sqlx::query("ALTER TABLE openline_hidden_log RENAME TO openline_command_log")
        .execute(&other)
        .await
        .unwrap();
    other.close().await;

    let server = TestServer::start(&config).await;
    server.expect("GET", "/v1/agents/a", json!(null), 404).await;
    assert!(server.stop().await);
}

/// SPEC R18 + R19: a manual clock that was never advanced is stored from its first instant, so
/// a restart resumes it there instead of at the wall clock's later second (which would expire
/// every presence timeout that fell in between).
#[tokio::test]
async fn r18_r19_a_manual_clock_is_durable_from_its_start() {
    let (_db, config) = manual_store();
    let server = TestServer::start(&config).await;
    let clock = server.get("/v1/clock").await;
    assert!(server.stop().await);
    let started_at = openline_core::time::parse_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    let store = Store::connect(&config.store.url).await.unwrap();
    assert_eq!(store.manual_clock().await.unwrap(), Some(started_at));
    store.close().await;

    let server = TestServer::start(&config).await;
    let again = server.get("/v1/clock").await;
    assert_eq!(
        again["now"], clock["now"],
        "the restarted clock resumes where it stood"
    );
    assert!(server.stop().await);
}

/// One active server per store: a second server on the same store waits as a standby until
/// the first one stops, then replays the log, including what the first one wrote while the
/// second was waiting (DESIGN.md "Store": several instances share one deployment).
#[tokio::test]
async fn a_second_server_waits_as_a_standby_and_takes_over_with_everything() {
    let (_db, config) = manual_store();
    let active = TestServer::start(&config).await;
    active.create_agent("a", "A").await;
    let mut standby = {
        let config = config.clone();
        tokio::spawn(async move { TestServer::start(&config).await })
    };
    // Not started within 2 s, where an unblocked start takes milliseconds: a window to see
    // that something does not happen, not a speed limit.
    let started_beside = tokio::time::timeout(Duration::from_secs(2), &mut standby).await;
    assert!(
        started_beside.is_err(),
        "the standby must not start beside the active server"
    );
    active.create_agent("b", "B").await;
    assert!(active.stop().await);
    let standby = standby.await.unwrap();
    for agent in ["/v1/agents/a", "/v1/agents/b"] {
        standby.get(agent).await;
    }
    assert!(standby.stop().await);
}
