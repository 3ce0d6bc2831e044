//! Changes asked by another site's page are refused (SPEC R35e), in every mode: a browser
//! sends a form post or a body-less `fetch` to any address without a CORS preflight, so the
//! `Content-Type` rule of SPEC R27 alone does not keep such a page from acting, in local
//! mode with no credential at all.
//!
//! A request that may change something (any method but GET, HEAD and OPTIONS) is refused
//! with 403 when it carries an `Origin` that is neither this server's own (the scheme and
//! the `Host` the request was sent to) nor listed in `server.cors_origins`, or when it says
//! `Sec-Fetch-Site: cross-site` and its origin is not listed. Requests without these headers
//! (curl, scripts, other servers) are not affected: they come from no web page.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};

use super::error::AppError;

/// Whether a request of `method` with `headers` may go on; `listed` are the origins of
/// `server.cors_origins`.
pub fn check(method: &Method, headers: &HeaderMap, listed: &[HeaderValue]) -> Result<(), AppError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN);
    let is_listed = origin.is_some_and(|origin| {
        listed
            .iter()
            .any(|allowed| same_origin(allowed.as_bytes(), origin.as_bytes()))
    });
    if is_listed {
        return Ok(());
    }
    if let Some(origin) = origin
        && !is_own(origin, headers.get(header::HOST))
    {
        return Err(refused(&format!(
            "origin `{}`",
            String::from_utf8_lossy(origin.as_bytes())
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    let fetch_site = headers.get(HeaderName::from_static("sec-fetch-site"));
    if fetch_site.is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site")) {
        return Err(refused("a page of another site"));
    }
    Ok(())
}

/// Whether `origin` is `http://HOST` or `https://HOST` for the request's `Host`.
fn is_own(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let origin = origin.as_bytes();
    ["http://", "https://"].iter().any(|scheme| {
        same_origin(
            origin,
            format!("{scheme}{}", String::from_utf8_lossy(host.as_bytes())).as_bytes(),
        )
    })
}

/// Origins and host names compare without regard to case.
fn same_origin(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn refused(from: &str) -> AppError {
    AppError::Forbidden(format!(
        "a change asked by {from} is refused: only pages of this server, or of an origin \
         listed in `server.cors_origins`, may change something from a browser"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header's name and value.
    type Header = (&'static str, &'static str);

    fn headers(pairs: &[Header]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn r35e_only_changes_from_foreign_pages_are_refused() {
        let listed = [HeaderValue::from_static("https://desk.example")];
        let host = ("host", "127.0.0.1:8080");
        let cases: [(Method, &[Header], bool); 10] = [
            (Method::POST, &[host], true),
            (
                Method::POST,
                &[host, ("origin", "http://127.0.0.1:8080")],
                true,
            ),
            (
                Method::DELETE,
                &[host, ("origin", "HTTPS://127.0.0.1:8080")],
                true,
            ),
            (
                Method::POST,
                &[host, ("origin", "https://desk.example")],
                true,
            ),
            (
                Method::POST,
                &[
                    host,
                    ("origin", "https://desk.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                true,
            ),
            (
                Method::GET,
                &[host, ("origin", "http://evil.example")],
                true,
            ),
            (
                Method::POST,
                &[host, ("origin", "http://evil.example")],
                false,
            ),
            (Method::PATCH, &[host, ("origin", "null")], false),
            (
                Method::POST,
                &[host, ("origin", "http://127.0.0.1:8081")],
                false,
            ),
            (
                Method::PUT,
                &[host, ("sec-fetch-site", "cross-site")],
                false,
            ),
        ];
        for (method, pairs, allowed) in cases {
            assert_eq!(
                check(&method, &headers(pairs), &listed).is_ok(),
                allowed,
                "{method} {pairs:?}"
            );
        }
    }
}
