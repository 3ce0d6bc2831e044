//! The connection's byte stream as hyper sees it: reads report the first byte of a request
//! head to the [`Activity`] (which starts the header timeout), and hyper's bodiless
//! automatic answer to an unparsable head is held back, so that the connection can answer
//! with the JSON error body instead (SPEC R24c).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;
use super::protocol_error::automatic_error_status;

/// A stream that watches what passes through it.
#[derive(Debug)]
pub(super) struct WatchedIo<S> {
    inner: S,
    activity: Arc<Activity>,
    /// The status of hyper's automatic error answer, once held back; nothing is written
    /// after it.
    held_back: Option<StatusCode>,
}

impl<S> WatchedIo<S> {
    /// Wraps `inner`, reporting to `activity`.
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            held_back: None,
        }
    }

    /// The stream, and the status of the automatic error answer it held back, if any.
    pub(super) fn into_parts(self) -> (S, Option<StatusCode>) {
        (self.inner, self.held_back)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.bytes_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.held_back.is_some() {
            return Poll::Ready(Ok(buf.len()));
        }
        // Only between requests: while the app answers, every byte is its response. Hyper
        // writes the automatic answer in one piece because this stream does not claim
        // vectored writes (hyper then flattens its buffer).
        if self.activity.is_between_requests()
            && let Some(status) = automatic_error_status(buf)
        {
            self.held_back = Some(status);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
