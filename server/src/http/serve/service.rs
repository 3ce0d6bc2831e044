//! The app as one connection's hyper service: each request body gets its deadline, each
//! response reports when it is over, and a request whose body missed its deadline is
//! answered 408 with the JSON error body and the connection closed (SPEC R24b).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use futures_util::future::BoxFuture;
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::activity::Activity;
use super::body::{RequestBody, ResponseBody, ResponseGuard};
use crate::http::error::AppError;

/// The router serving one connection.
#[derive(Debug, Clone)]
pub(super) struct AppService {
    router: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl AppService {
    /// `router` on the connection that `activity` follows.
    pub(super) fn new(router: Router, activity: Arc<Activity>, body_timeout: Duration) -> Self {
        Self {
            router,
            activity,
            body_timeout,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for AppService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = ResponseGuard::start(self.activity.clone(), request.body().is_end_stream());
        let deadline = Instant::now() + self.body_timeout;
        let activity = self.activity.clone();
        let request = request
            .map(|body| axum::body::Body::new(RequestBody::new(body, deadline, activity.clone())));
        let router = self.router.clone();
        let body_timeout = self.body_timeout;
        Box::pin(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let response = if activity.is_body_timed_out() {
                timed_out(response, body_timeout)
            } else {
                response
            };
            Ok(response.map(|body| ResponseBody::new(body, guard)))
        })
    }
}

/// The answer to a request whose body missed its deadline: 408 unless the app answered with
/// success anyway, and in any case the connection closes (the rest of the body is unread).
fn timed_out(
    response: axum::response::Response,
    body_timeout: Duration,
) -> axum::response::Response {
    let mut response = if response.status().is_success() {
        response
    } else {
        AppError::RequestTimeout(format!(
            "the request body did not arrive within {} of its head",
            humantime_serde::re::humantime::format_duration(body_timeout)
        ))
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
