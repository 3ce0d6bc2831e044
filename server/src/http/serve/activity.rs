//! What one connection is doing right now, and so which deadline applies to it (SPEC R24b).
//!
//! The IO wrapper, the service and the bodies report what they see; the connection task
//! waits on [`Activity::expired`] and closes the connection when the deadline of the current
//! phase passes. Hyper's own `header_read_timeout` is not used: it starts when hyper begins
//! waiting for a head, so it would also be the idle keep-alive timeout.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Timeouts;

/// Where a connection is between two requests or inside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No byte of the next request head has arrived; the connection is closed at `deadline`
    /// (the header timeout after accepting, the idle timeout after a response).
    Waiting { deadline: Instant },
    /// Part of a request head arrived; the rest must arrive by `deadline`.
    Head { deadline: Instant },
    /// The app has the request; its body is still arriving (the body enforces its own
    /// deadline, because only a handler that reads the body waits for it).
    Receiving,
    /// The whole request arrived; the response is being produced or sent.
    Responding,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Bytes of the current head read so far.
    head_bytes: usize,
    /// Where the current head's request line ended (its length), once a line end arrived:
    /// an oversized head whose request line is unfinished or itself too long is an oversized
    /// URI, else oversized headers.
    request_line: Option<usize>,
    /// Whether the current head begins as HTTP/2's connection preface (`PRI * HTTP/2.0`).
    http2_preface: bool,
    /// Whether the current request's body missed its deadline.
    body_timed_out: bool,
}

/// The shared record of one connection's progress.
#[derive(Debug)]
pub(super) struct Activity {
    timeouts: Timeouts,
    state: Mutex<State>,
    /// Signalled when the deadline may have moved.
    changed: Notify,
}

/// How HTTP/2's connection preface begins (RFC 9113 §3.4).
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2";

impl State {
    /// `bytes` of the current head arrived: notes where its request line ends.
    fn head_read(&mut self, bytes: &[u8]) {
        if self.head_bytes == 0 {
            self.http2_preface = bytes.starts_with(HTTP2_PREFACE_START);
        }
        if self.request_line.is_none()
            && let Some(at) = bytes.iter().position(|b| *b == b'\n')
        {
            self.request_line = Some(self.head_bytes + at);
        }
        self.head_bytes = self.head_bytes.saturating_add(bytes.len());
    }
}

impl Activity {
    /// A connection just accepted: its first request head is due within the header timeout.
    pub(super) fn new(timeouts: Timeouts) -> Arc<Self> {
        Arc::new(Self {
            timeouts,
            state: Mutex::new(State {
                phase: Phase::Waiting {
                    deadline: Instant::now() + timeouts.header,
                },
                head_bytes: 0,
                request_line: None,
                http2_preface: false,
                body_timed_out: false,
            }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived from the client: the first byte of a head starts the header timeout.
    pub(super) fn bytes_read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.state();
        match state.phase {
            Phase::Waiting { .. } => {
                state.phase = Phase::Head {
                    deadline: Instant::now() + self.timeouts.header,
                };
                state.head_bytes = 0;
                state.request_line = None;
                state.head_read(bytes);
                drop(state);
                self.changed.notify_one();
            }
            Phase::Head { .. } => state.head_read(bytes),
            Phase::Receiving | Phase::Responding => {}
        }
    }

    /// The app received a request (its body already complete or not).
    pub(super) fn request_started(&self, body_complete: bool) {
        let mut state = self.state();
        state.phase = if body_complete {
            Phase::Responding
        } else {
            Phase::Receiving
        };
        state.body_timed_out = false;
        drop(state);
        self.changed.notify_one();
    }

    /// The request body arrived in full.
    pub(super) fn body_complete(&self) {
        let mut state = self.state();
        if state.phase == Phase::Receiving {
            state.phase = Phase::Responding;
        }
    }

    /// The request body missed its deadline.
    pub(super) fn body_timed_out(&self) {
        self.state().body_timed_out = true;
    }

    /// Whether the current request's body missed its deadline.
    pub(super) fn is_body_timed_out(&self) -> bool {
        self.state().body_timed_out
    }

    /// The response was sent (or abandoned): the next request is due within the idle timeout.
    pub(super) fn response_finished(&self) {
        let mut state = self.state();
        state.phase = Phase::Waiting {
            deadline: Instant::now() + self.timeouts.idle,
        };
        state.head_bytes = 0;
        state.request_line = None;
        drop(state);
        self.changed.notify_one();
    }

    /// Whether no request is with the app: bytes written now are not part of a response the
    /// app made.
    pub(super) fn is_between_requests(&self) -> bool {
        matches!(
            self.state().phase,
            Phase::Waiting { .. } | Phase::Head { .. }
        )
    }

    /// Whether a complete request is being answered: graceful shutdown waits only for these;
    /// idle connections and half-sent requests are closed at once.
    pub(super) fn is_answering(&self) -> bool {
        self.state().phase == Phase::Responding
    }

    /// Whether the current head began as an HTTP/2 connection preface.
    pub(super) fn is_http2_preface(&self) -> bool {
        self.state().http2_preface
    }

    /// Whether the current head's request line is unfinished or at least `limit` bytes long
    /// (so that it alone overflows a head of at most `limit` bytes).
    pub(super) fn is_request_line_too_long(&self, limit: usize) -> bool {
        self.state()
            .request_line
            .is_none_or(|length| length >= limit)
    }

    fn deadline(&self) -> Option<Instant> {
        match self.state().phase {
            Phase::Waiting { deadline } | Phase::Head { deadline } => Some(deadline),
            Phase::Receiving | Phase::Responding => None,
        }
    }

    /// Resolves once the deadline of the current phase has passed.
    pub(super) async fn expired(&self) {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn phases_follow_a_request_through_a_keep_alive_connection() {
        let activity = Activity::new(timeouts());
        assert!(activity.is_between_requests());
        assert!(!activity.is_answering());
        activity.bytes_read(b"GET /very-long-pa");
        assert!(activity.is_request_line_too_long(1000), "unfinished");
        activity.bytes_read(b"th HTTP/1.1\r\nHost: x\r\n");
        assert!(!activity.is_request_line_too_long(1000));
        assert!(
            activity.is_request_line_too_long(29),
            "29 bytes before its end"
        );
        assert!(!activity.is_request_line_too_long(30));
        activity.request_started(false);
        assert!(!activity.is_between_requests());
        assert!(!activity.is_answering(), "a half-sent body is not answered");
        assert_eq!(activity.deadline(), None, "the body keeps its own deadline");
        activity.body_complete();
        assert!(activity.is_answering());
        activity.response_finished();
        assert!(activity.is_between_requests());
        assert!(activity.is_request_line_too_long(1000), "a new head");
        assert!(!activity.is_http2_preface());
        let idle = activity.deadline().expect("an idle deadline");
        assert!(idle > Instant::now() + Duration::from_secs(50));
        activity.bytes_read(b"G");
        let head = activity.deadline().expect("a header deadline");
        assert!(
            head < idle,
            "the first byte of a head starts the header timeout"
        );
    }

    #[tokio::test]
    async fn an_http2_preface_is_recognised_by_its_first_bytes() {
        let activity = Activity::new(timeouts());
        activity.bytes_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(activity.is_http2_preface());
        activity.response_finished();
        activity.bytes_read(b"GET / HTTP/1.1\r\n");
        assert!(!activity.is_http2_preface());
    }

    #[tokio::test]
    async fn expired_waits_for_the_current_deadline_only() {
        let activity = Activity::new(Timeouts {
            header: Duration::from_millis(20),
            ..timeouts()
        });
        tokio::time::timeout(Duration::from_secs(5), activity.expired())
            .await
            .expect("the header deadline passes");
        activity.request_started(true);
        let answering = tokio::time::timeout(Duration::from_millis(100), activity.expired()).await;
        assert!(
            answering.is_err(),
            "a request being answered has no deadline"
        );
    }
}
