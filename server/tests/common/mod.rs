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
