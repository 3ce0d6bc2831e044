//! A lean HTTP/1.1 client: one keep-alive connection per worker (hyper's connection API, no
//! pool), so the load generator spends as little of the shared CPU as possible per request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use serde_json::Value;

use super::stats::Tally;

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `value` as a JSON request body.
pub fn json_body(value: &Value) -> Option<Vec<u8>> {
    serde_json::to_vec(value).ok()
}

/// The `Authorization` value every request presents, once `--auth token` set it.
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// One connection to the server under test (reconnects after a transport error).
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Raw body.
    pub body: Bytes,
}

impl Conn {
    /// A connection to `addr` (opened lazily).
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))?;
        sender.ready().await?;
        Ok(sender)
    }

    /// Presents `token` on every request of every connection from now on (`loadgen --auth
    /// token`); set once.
    pub fn use_token(token: String) {
        let _ = TOKEN.set(format!("Bearer {token}"));
    }

    /// Sends one request and reads the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Reply> {
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, "127.0.0.1")
                .header(hyper::header::CONTENT_TYPE, "application/json");
            if let Some(bearer) = TOKEN.get() {
                request = request.header(hyper::header::AUTHORIZATION, bearer.as_str());
            }
            let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
            let response = self.sender().await?.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>(Reply { status, body })
        })
        .await;
        let outcome = outcome.unwrap_or_else(|_| Err(anyhow::anyhow!("request timed out")));
        if outcome.is_err() {
            self.sender = None; // reconnect next time
        }
        outcome
    }

    /// Sends `body` as JSON and fails unless the answer is a 2xx (fixture set-up).
    pub async fn ok(&mut self, method: Method, path: &str, body: &Value) -> anyhow::Result<Reply> {
        let reply = self.send(method.clone(), path, json_body(body)).await?;
        anyhow::ensure!(
            (200..300).contains(&reply.status),
            "{method} {path}: HTTP {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        Ok(reply)
    }

    /// Sends one request, records its latency in `tally`, and counts it as an error unless it
    /// succeeded (2xx) or is an `allowed` status (e.g. 409 when an offer was withdrawn under
    /// a concurrent availability change, counted as a conflict). `None` on failure.
    pub async fn call(
        &mut self,
        tally: &mut Tally,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        allowed: &[u16],
    ) -> Option<Reply> {
        let started = Instant::now();
        let reply = self.send(method, path, body).await;
        tally.record(started.elapsed());
        match reply {
            Ok(reply) if (200..300).contains(&reply.status) => Some(reply),
            Ok(reply) if allowed.contains(&reply.status) => {
                tally.conflicts += 1;
                None
            }
            Ok(reply) => {
                tally.error(format!(
                    "{path}: HTTP {} {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
                None
            }
            Err(error) => {
                tally.error(format!("{path}: {error}"));
                None
            }
        }
    }
}
