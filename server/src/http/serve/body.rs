//! The two bodies that pass between hyper and the app: a request body with a deadline
//! (SPEC R24b), and a response body that reports when the response is over.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::activity::Activity;

/// The error a request body reports when it missed its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(super) struct BodyTimedOut;

/// A request body that must arrive in full by a deadline.
#[derive(Debug)]
pub(super) struct RequestBody {
    inner: Incoming,
    deadline: Instant,
    /// Armed the first time the body has to wait for data.
    sleep: Option<Pin<Box<Sleep>>>,
    activity: Arc<Activity>,
}

impl RequestBody {
    /// `inner`, due in full by `deadline`.
    pub(super) fn new(inner: Incoming, deadline: Instant, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            deadline,
            sleep: None,
            activity,
        }
    }

    fn timed_out(&self) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.activity.body_timed_out();
        Poll::Ready(Some(Err(BodyTimedOut.into())))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if Instant::now() >= self.deadline {
            return self.timed_out();
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.activity.body_complete();
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if self.inner.is_end_stream() {
                    self.activity.body_complete();
                }
                Poll::Ready(Some(frame.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => self.timed_out(),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks the response over when dropped: hyper drops the body once it has sent it, or when
/// the connection ends; the request's future drops it if it never got that far.
#[derive(Debug)]
pub(super) struct ResponseGuard(Arc<Activity>);

impl ResponseGuard {
    /// A request was handed to the app.
    pub(super) fn start(activity: Arc<Activity>, body_complete: bool) -> Self {
        activity.request_started(body_complete);
        Self(activity)
    }
}

impl Drop for ResponseGuard {
    fn drop(&mut self) {
        self.0.response_finished();
    }
}

/// The app's response body, carrying the [`ResponseGuard`] of its request.
#[derive(Debug)]
pub(super) struct ResponseBody {
    inner: axum::body::Body,
    _guard: ResponseGuard,
}

impl ResponseBody {
    /// `inner`, ending its request when dropped.
    pub(super) fn new(inner: axum::body::Body, guard: ResponseGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
