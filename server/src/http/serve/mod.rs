//! Serving the app over HTTP/1.1 until told to stop (SPEC R24b, R24c).
//!
//! `axum::serve` has no timeouts, and hyper's `header_read_timeout` also bounds the idle time
//! between keep-alive requests; so this accept loop drives hyper itself:
//! - a request head is due within `header_timeout` of the connection's start or of its
//!   first byte, the next request's first byte within `idle_timeout` of the last response,
//!   and a request body within `body_timeout` of its head ([`activity`], [`body`]);
//! - a head hyper refuses (malformed, oversized) is answered with the API's JSON error body
//!   ([`protocol_error`]), then the connection is closed;
//! - on stop, it accepts no more connections, closes idle ones and half-sent requests at
//!   once, lets requests being answered finish (up to [`SHUTDOWN_GRACE`]), then returns.

mod activity;
mod body;
mod io;
mod protocol_error;
mod service;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerSettings;
use activity::Activity;
use io::WatchedIo;
use service::AppService;

/// How long requests being answered may take to finish once the server stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a connection refused by the HTTP layer is kept open, discarding what the client
/// still sends, so that the client reads the error rather than a reset.
const LINGER: Duration = Duration::from_secs(2);

/// At most this many bytes are discarded while lingering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// The connection timeouts of `[server]` (SPEC R24b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head must arrive within this of the connection's start or its first byte.
    pub header: Duration,
    /// A request body must arrive within this of its head.
    pub body: Duration,
    /// The next request must start within this of the last response.
    pub idle: Duration,
}

impl From<&ServerSettings> for Timeouts {
    fn from(settings: &ServerSettings) -> Self {
        Self {
            header: settings.header_timeout,
            body: settings.body_timeout,
            idle: settings.idle_timeout,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) {
    let (stopping, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone(), timeouts, stop_rx.clone()));
                }
                Err(error) => accept_failed(&error).await,
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => reaped(joined),
        }
    }
    drop(listener);
    stopping.send_replace(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = connections.join_next().await {
            reaped(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "closing connections whose requests did not finish within {SHUTDOWN_GRACE:?}"
        );
        connections.shutdown().await;
    }
}

/// A connection task ended; a panic in it is logged, not propagated.
fn reaped(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!(%error, "an HTTP connection task panicked");
    }
}

/// A failed `accept`: a connection reset before it was accepted is nothing; anything else
/// (e.g. too many open files) is logged and retried after a pause.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What ended one wait of a connection.
enum Event {
    /// Hyper finished with the connection.
    Done(hyper::Result<()>),
    /// The deadline of the current phase passed.
    Expired,
    /// The server is stopping.
    Stop,
}

/// Serves one connection until it ends, times out or the server stops.
async fn connection(
    stream: TcpStream,
    router: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Activity::new(timeouts);
    let io = TokioIo::new(WatchedIo::new(stream, activity.clone()));
    let service = AppService::new(router, activity.clone(), timeouts.body);
    let mut conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_header_size(protocol_error::MAX_HEAD_BYTES)
        .serve_connection(io, service);
    let mut stopping = false;
    loop {
        let event = tokio::select! {
            done = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => Event::Done(done),
            () = activity.expired() => Event::Expired,
            _ = stop.wait_for(|stop| *stop), if !stopping => Event::Stop,
        };
        match event {
            Event::Done(done) => {
                if let Err(error) = done {
                    tracing::debug!(%error, "HTTP connection ended");
                }
                break;
            }
            Event::Expired => {
                tracing::debug!("closing an HTTP connection: its client was too slow or idle");
                return;
            }
            Event::Stop => {
                stopping = true;
                if !activity.is_answering() {
                    return;
                }
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
    let (stream, held_back) = conn.into_parts().io.into_inner().into_parts();
    // Hyper closes an HTTP/2 preface without a word: it gets the 505 it would have had.
    let held_back = held_back.or_else(|| {
        activity
            .is_http2_preface()
            .then_some(axum::http::StatusCode::HTTP_VERSION_NOT_SUPPORTED)
    });
    if let Some(status) = held_back {
        let error = protocol_error::app_error(
            status,
            activity.is_request_line_too_long(protocol_error::MAX_HEAD_BYTES),
        );
        tracing::debug!(%error, "refused by the HTTP layer");
        let answer = protocol_error::raw_response(&error);
        tokio::select! {
            () = answer_and_linger(stream, &answer) => {}
            _ = stop.wait_for(|stop| *stop), if !stopping => {}
        }
    }
}

/// Writes `answer`, closes the sending side, and discards what the client still sends (for
/// at most [`LINGER`] and [`LINGER_BYTES`]): closing a socket with unread data resets it,
/// and a reset can destroy the answer before the client reads it.
async fn answer_and_linger(mut stream: TcpStream, answer: &[u8]) {
    let linger = async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut discarded = 0;
        let mut buf = vec![0; 64 * 1024];
        while discarded < LINGER_BYTES {
            match stream.read(&mut buf).await? {
                0 => break,
                n => discarded += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    if let Ok(Err(error)) = tokio::time::timeout(LINGER, linger).await {
        tracing::debug!(%error, "while answering a refused request");
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Serves a router whose `/slow` answers after 300 ms; the stop trigger and the address.
    async fn start() -> (
        watch::Sender<bool>,
        std::net::SocketAddr,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let timeouts = Timeouts {
            header: HOUR,
            body: HOUR,
            idle: HOUR,
        };
        let (trigger, mut stop) = watch::channel(false);
        let server = tokio::spawn(serve(listener, router, timeouts, async move {
            drop(stop.wait_for(|stop| *stop).await);
        }));
        (trigger, addr, server)
    }

    async fn read_to_end(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        drop(stream.read_to_end(&mut out).await);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn stopping_finishes_requests_being_answered_and_closes_the_rest() {
        let (trigger, addr, server) = start().await;
        let mut idle = TcpStream::connect(addr).await.expect("connect");
        let mut half = TcpStream::connect(addr).await.expect("connect");
        half.write_all(b"GET /slow HTTP/1.1\r\nHo")
            .await
            .expect("write");
        let mut busy = TcpStream::connect(addr).await.expect("connect");
        busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.send_replace(true);
        let answered = read_to_end(&mut busy).await;
        assert!(answered.starts_with("HTTP/1.1 200 OK"), "{answered}");
        assert!(answered.ends_with("done"), "{answered}");
        assert_eq!(read_to_end(&mut idle).await, "");
        assert_eq!(read_to_end(&mut half).await, "");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns once the answer is sent")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_refused_head_is_answered_with_json_and_closed() {
        let (_trigger, addr, _server) = start().await;
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET /slow HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .await
            .expect("write");
        let answer = read_to_end(&mut client).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("content-type: application/json"),
            "{answer}"
        );
        assert!(answer.contains(r#""code":"invalid_request""#), "{answer}");
    }
}
