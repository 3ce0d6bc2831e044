//! Shared helpers: a server (runtime + router) on a fresh SQLite file, and one-shot calls.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use openline_server::config::{ClockMode, Settings};
use openline_server::http::{AppState, app};
use openline_server::runtime::{Runtime, Started};
use serde_json::Value;
use tower::ServiceExt;

/// A fresh SQLite database file, removed with its WAL files when dropped.
pub struct TempDb(PathBuf);

impl TempDb {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!("openline-http-{}.db", uuid::Uuid::now_v7())))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Settings on `db` with a clock `mode`.
pub fn settings(db: &std::path::Path, mode: ClockMode) -> Settings {
    let mut settings = Settings::default();
    settings.store.url = format!("sqlite://{}", db.display());
    settings.clock.mode = mode;
    // As in the contract's smoke test: Working Time management only for the `shift` group.
    settings
        .plugins
        .insert("timesheet".into(), serde_json::json!({"groups": ["shift"]}));
    settings
}

/// A fresh SQLite database and the settings of a manual-clock server on it: start, stop and
/// start again on the same state while the [`TempDb`] lives.
pub fn manual_store() -> (TempDb, Settings) {
    let db = TempDb::new();
    let config = settings(db.path(), ClockMode::Manual);
    (db, config)
}

/// A started server and its router.
pub struct TestServer {
    pub started: Started,
    pub router: Router,
    /// The database of [`TestServer::manual`], removed with the server.
    db: Option<TempDb>,
}

impl TestServer {
    pub async fn start(settings: &Settings) -> Self {
        let registry = openline_server::registry().unwrap();
        let started = Runtime::start(settings, &registry).await.unwrap();
        let router = app(AppState {
            runtime: started.runtime.clone(),
            gate: std::sync::Arc::new(openline_server::http::auth::Gate::new(settings).unwrap()),
        });
        Self {
            started,
            router,
            db: None,
        }
    }

    pub async fn manual() -> Self {
        let db = TempDb::new();
        let mut server = Self::start(&settings(db.path(), ClockMode::Manual)).await;
        server.db = Some(db);
        server
    }

    /// Sends a GET with this `Host` header; the status and the body.
    pub async fn get_as_host(&self, path: &str, host: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends a request with a JSON body (raw bytes) and `content_type`.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Sends `body` as JSON (`Value::Null` = no body).
    pub async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        self.raw(method, path, bytes, Some("application/json"))
            .await
    }

    /// Like `call`, asserting the status.
    pub async fn expect(&self, method: &str, path: &str, body: Value, status: u16) -> Value {
        let (got, value) = self.call(method, path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path} -> {got} {value}");
        value
    }

    /// `PUT /v1/agents/{id}` with just a `name` → 201 (a new agent).
    pub async fn create_agent(&self, id: &str, name: &str) -> Value {
        let body = serde_json::json!({ "name": name });
        self.expect("PUT", &format!("/v1/agents/{id}"), body, 201)
            .await
    }

    /// `GET path` → 200; the JSON body.
    pub async fn get(&self, path: &str) -> Value {
        self.expect("GET", path, Value::Null, 200).await
    }

    /// `POST /v1/signals` with one signal object or an array of them → 200.
    pub async fn signal(&self, body: Value) -> Value {
        self.expect("POST", "/v1/signals", body, 200).await
    }

    /// `POST /v1/channels/web/conversations` with `body`, answering `status`; the conversation.
    pub async fn open(&self, body: Value, status: u16) -> Value {
        let path = "/v1/channels/web/conversations";
        self.expect("POST", path, body, status).await
    }

    /// `POST /v1/conversations/{id}/{action}` with `body`, answering `status`.
    pub async fn act(&self, id: &str, action: &str, body: Value, status: u16) -> Value {
        let path = format!("/v1/conversations/{id}/{action}");
        self.expect("POST", &path, body, status).await
    }

    /// `POST /v1/clock/advance` by `seconds` → 200; the clock.
    pub async fn advance(&self, seconds: i64) -> Value {
        let body = serde_json::json!({ "seconds": seconds });
        self.expect("POST", "/v1/clock/advance", body, 200).await
    }

    /// A request answered with `status` and the API error `code`; its message.
    pub async fn refused(
        &self,
        method: &str,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
    ) -> String {
        error(&self.expect(method, path, body, status).await, code)
    }

    pub async fn stop(self) -> bool {
        let durable = self.started.stop().await;
        drop(self.db);
        durable
    }
}

/// Asserts the API error shape and code; returns the message.
pub fn error(value: &Value, code: &str) -> String {
    assert_eq!(value["error"]["code"], code, "{value}");
    let message = value["error"]["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// The `event` of each entry of a conversation's history, in order.
pub fn history_events(conversation: &Value) -> Vec<&str> {
    conversation["history"]
        .as_array()
        .expect("a history array")
        .iter()
        .map(|entry| entry["event"].as_str().expect("an event name"))
        .collect()
}

/// Creates `agents` and the channel `web` with `channel`.
pub async fn setup(server: &TestServer, agents: &[&str], channel: Value) {
    for agent in agents {
        server
            .expect(
                "PUT",
                &format!("/v1/agents/{agent}"),
                serde_json::json!({"name": agent}),
                201,
            )
            .await;
    }
    server.expect("PUT", "/v1/channels/web", channel, 201).await;
}
