//! Errors of the HTTP layer itself, answered with the API's JSON error body (SPEC R24c).
//!
//! Hyper refuses a malformed or oversized request head before any service sees it, and
//! answers with an empty body. [`automatic_error_status`] recognises that answer on its way
//! out (the IO wrapper then drops it), and [`raw_response`] is what the connection sends
//! instead: the same status, the [`AppError`] JSON body, `Connection: close`.

use axum::http::StatusCode;

use crate::http::error::AppError;

/// Largest request head (request line and headers) hyper accepts, in bytes; beyond it the
/// answer is 431, or 414 when the request line alone is that long.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The status of hyper's automatic answer to an unparsable request head, when `written` is
/// exactly such an answer: a bodiless `400`, `414` or `431` head with `content-length: 0`
/// and no content type. A response of the app always has a JSON body, so never matches.
pub(super) fn automatic_error_status(written: &[u8]) -> Option<StatusCode> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let status = match rest.get(..4)? {
        "400 " => StatusCode::BAD_REQUEST,
        "414 " => StatusCode::URI_TOO_LONG,
        "431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "505 " => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        _ => return None,
    };
    let mut bodiless = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => bodiless = value.trim() == "0",
            "content-type" | "transfer-encoding" => return None,
            _ => {}
        }
    }
    bodiless.then_some(status)
}

/// The API error for hyper's refusal `status`; a 431 whose request line is unfinished or
/// alone [`MAX_HEAD_BYTES`] long is a URI too long (docs/api.md: 414 for a request line over
/// 64 KiB, however the bytes arrived).
pub(super) fn app_error(status: StatusCode, request_line_too_long: bool) -> AppError {
    match status {
        StatusCode::URI_TOO_LONG => uri_too_long(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE if request_line_too_long => uri_too_long(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => AppError::HeadersTooLarge(format!(
            "the request head is too large: at most {MAX_HEAD_BYTES} bytes of request line \
             and headers, and at most 100 headers"
        )),
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => AppError::HttpVersionNotSupported(
            "this server speaks HTTP/1.1 only (HTTP/2 is not offered, with or without TLS): \
             send HTTP/1.1 requests"
                .to_owned(),
        ),
        _ => AppError::invalid(
            "malformed HTTP request: the request line, a header or the message framing \
             (Content-Length, Transfer-Encoding) is not valid HTTP/1.1",
        ),
    }
}

fn uri_too_long() -> AppError {
    AppError::UriTooLong(format!(
        "the request line is too long: at most {MAX_HEAD_BYTES} bytes of request line and \
         headers together"
    ))
}

/// A complete HTTP/1.1 response carrying `error`, after which the connection closes.
pub(super) fn raw_response(error: &AppError) -> Vec<u8> {
    let status = error.status();
    let body = error.body().to_string();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Tue, 01 Dec 2026 10:00:00 GMT\r\n";

    #[test]
    fn hypers_automatic_answers_are_recognised() {
        for (code, status) in [
            ("400 Bad Request", StatusCode::BAD_REQUEST),
            ("414 URI Too Long", StatusCode::URI_TOO_LONG),
            (
                "431 Request Header Fields Too Large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ),
        ] {
            let head = format!("HTTP/1.1 {code}\r\ncontent-length: 0\r\n{DATE}\r\n");
            assert_eq!(automatic_error_status(head.as_bytes()), Some(status));
            let closing =
                format!("HTTP/1.1 {code}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
            assert_eq!(automatic_error_status(closing.as_bytes()), Some(status));
        }
    }

    #[test]
    fn responses_of_the_app_are_left_alone() {
        let json = raw_response(&AppError::invalid("bad"));
        assert_eq!(automatic_error_status(&json), None, "a JSON error");
        let typed =
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(automatic_error_status(typed), None, "a typed empty body");
        let ok = format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{DATE}\r\n");
        assert_eq!(automatic_error_status(ok.as_bytes()), None, "not an error");
        let chunked = "HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(automatic_error_status(chunked.as_bytes()), None);
        let tail = b"\"message\":\"x\"}}";
        assert_eq!(automatic_error_status(tail), None, "the tail of a body");
        let two = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(automatic_error_status(two), None, "more than one head");
    }

    #[test]
    fn the_raw_answer_has_the_api_error_body() {
        let error = app_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, true);
        assert_eq!(error.status(), StatusCode::URI_TOO_LONG);
        let raw = raw_response(&error);
        let text = String::from_utf8(raw).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["error"]["code"], "uri_too_long");
        let headers = app_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, false);
        assert_eq!(headers.code(), "request_header_fields_too_large");
        assert_eq!(
            app_error(StatusCode::BAD_REQUEST, true).code(),
            "invalid_request"
        );
    }
}
