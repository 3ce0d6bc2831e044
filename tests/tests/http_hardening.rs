//! SPEC R24b (connection timeouts; a half-sent request never blocks shutdown) and R24c (errors
//! of the HTTP layer itself carry the JSON error body), over raw TCP connections.
//!
//! Waiting for a server-side timeout is reading until the server closes the connection; the
//! client's own read timeout (10 s) only bounds a broken server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openline_tests::http::{self, Response};
use openline_tests::*;

/// How long a test waits for the server to close or answer a connection.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A server whose header, body and idle timeouts are all `timeout`.
fn server_with_timeouts(timeout: &str) -> Server {
    Server::builder()
        .env("OPENLINE__SERVER__HEADER_TIMEOUT", timeout)
        .env("OPENLINE__SERVER__BODY_TIMEOUT", timeout)
        .env("OPENLINE__SERVER__IDLE_TIMEOUT", timeout)
        .start()
}

fn connect(s: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection; fails if it keeps it open
/// longer than [`CLIENT_TIMEOUT`].
#[track_caller]
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return raw,
            Err(e) => panic!(
                "the server kept the connection open ({e}); received so far: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
}

/// One response on a kept-alive connection (its body sized by `Content-Length`).
fn read_one_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = http::parse_response(&raw[..end + 4]).expect("a response head");
            let len: usize = head
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .expect("a Content-Length");
            if raw.len() >= end + 4 + len {
                return http::parse_response(&raw[..end + 4 + len]).expect("a response");
            }
        }
        let n = stream.read(&mut buf).expect("read a response");
        assert!(n > 0, "closed before a whole response");
        raw.extend_from_slice(&buf[..n]);
    }
}

fn healthz_keep_alive(port: u16) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
}

/// Sends `request` (from a second thread, so that a server answering early is read rather
/// than lost in a blocked write) and returns the response, after which the server must have
/// closed the connection.
#[track_caller]
fn exchange(s: &Server, request: Vec<u8>) -> Response {
    let mut stream = connect(s);
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || drop(writer.write_all(&request)));
    let raw = read_until_closed(&mut stream);
    drop(sending.join());
    http::parse_response(&raw).unwrap_or_else(|e| panic!("no response: {e}"))
}

/// An error answer of the HTTP layer: `status`, the JSON error body with `code`, and
/// `Content-Type: application/json` (SPEC R24c).
#[track_caller]
fn assert_json_error(r: &Response, status: u16, code: &str) {
    assert_error(r, status, code, &[]);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{status} without a JSON content type: {:?}",
        r.headers
    );
}

#[track_caller]
fn assert_healthy(s: &Server) {
    let r = http::send(s.port, "GET", "/healthz", None).expect("GET /healthz");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn r24b_a_kept_alive_connection_serves_requests_then_closes_once_idle() {
    let s = server_with_timeouts("1s");
    let mut stream = connect(&s);
    for _ in 0..2 {
        stream
            .write_all(healthz_keep_alive(s.port).as_bytes())
            .unwrap();
        assert_eq!(read_one_response(&mut stream).status, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    let rest = read_until_closed(&mut stream);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert_healthy(&s);
}

#[test]
fn r24b_idle_time_between_requests_is_bounded_by_idle_timeout_not_header_timeout() {
    let s = Server::builder()
        .env("OPENLINE__SERVER__HEADER_TIMEOUT", "1s")
        .env("OPENLINE__SERVER__IDLE_TIMEOUT", "5m")
        .start();
    let mut stream = connect(&s);
    stream
        .write_all(healthz_keep_alive(s.port).as_bytes())
        .unwrap();
    assert_eq!(read_one_response(&mut stream).status, 200);
    // Idle for longer than the header timeout: still open.
    std::thread::sleep(Duration::from_millis(2500));
    stream
        .write_all(healthz_keep_alive(s.port).as_bytes())
        .unwrap();
    assert_eq!(read_one_response(&mut stream).status, 200);
    // The next head's first byte starts the header timeout.
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let rest = read_until_closed(&mut stream);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn r24b_a_connection_without_a_whole_request_head_is_closed_after_header_timeout() {
    let s = server_with_timeouts("1s");
    let mut silent = connect(&s);
    let mut half = connect(&s);
    half.write_all(format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", s.port).as_bytes())
        .unwrap();
    for stream in [&mut silent, &mut half] {
        let answer = read_until_closed(stream);
        assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    }
    assert_healthy(&s);
}

#[test]
fn r24b_a_stalled_request_body_gets_408_and_the_connection_is_closed() {
    let s = server_with_timeouts("1s");
    let mut stream = connect(&s);
    let head = format!(
        "POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"agent\": \"a\"",
        s.port
    );
    stream.write_all(head.as_bytes()).unwrap();
    let raw = read_until_closed(&mut stream);
    let r = http::parse_response(&raw).expect("a 408 response");
    assert_json_error(&r, 408, "request_timeout");
    assert_healthy(&s);
}

#[test]
fn r24b_shutdown_is_not_blocked_by_idle_connections_or_half_sent_requests() {
    // Timeouts far beyond the harness's 30 s wait: only the shutdown itself can close these.
    let mut s = server_with_timeouts("5m");
    let silent = connect(&s);
    let mut kept_alive = connect(&s);
    kept_alive
        .write_all(healthz_keep_alive(s.port).as_bytes())
        .unwrap();
    assert_eq!(read_one_response(&mut kept_alive).status, 200);
    let mut half_head = connect(&s);
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut half_body = connect(&s);
    half_body
        .write_all(
            b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"agent\"",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.terminate();
    let status = s
        .wait_exit()
        .expect("the server did not exit within 30 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    for mut stream in [silent, kept_alive, half_head, half_body] {
        read_until_closed(&mut stream);
    }
}

#[test]
fn r24b_shutdown_ends_open_event_streams_and_exits_cleanly() {
    let mut s = server_with_timeouts("5m");
    let events = EventStream::open(s.port, "/v1/events").expect("GET /v1/events");
    s.terminate();
    let status = s
        .wait_exit()
        .expect("the server did not exit within 30 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    drop(events);
}

#[test]
fn r24c_errors_of_the_http_layer_carry_the_json_error_body() {
    let s = Server::start();
    let host = format!("Host: 127.0.0.1:{}\r\n", s.port);
    let long_path = format!("GET /{} HTTP/1.1\r\n{host}\r\n", "a".repeat(1024 * 1024));
    let r = exchange(&s, long_path.into_bytes());
    assert_json_error(&r, 414, "uri_too_long");

    let big_header = format!(
        "GET /healthz HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n",
        "b".repeat(500 * 1024)
    );
    let r = exchange(&s, big_header.into_bytes());
    assert_json_error(&r, 431, "request_header_fields_too_large");

    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = exchange(
        &s,
        format!("GET /healthz HTTP/1.1\r\n{host}{many_headers}\r\n").into_bytes(),
    );
    assert_json_error(&r, 431, "request_header_fields_too_large");

    let malformed: [&[u8]; 8] = [
        b"HELLO WORLD\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET /<script>alert(1)</script> HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: -1\r\n\r\n{}",
        b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\
          Content-Length: 3\r\n\r\n{}",
        b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad\x01Name: x\r\n\r\n",
        b"GET /heal\x00thz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ];
    for request in malformed {
        let r = exchange(&s, request.to_vec());
        assert_json_error(&r, 400, "invalid_request");
    }
    assert_healthy(&s);
}

#[test]
fn r24c_bad_chunked_framing_in_a_body_is_a_json_400() {
    let s = Server::start();
    let request = format!(
        "POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
        s.port
    );
    let r = exchange(&s, request.into_bytes());
    assert_json_error(&r, 400, "invalid_request");
    assert_healthy(&s);
}

#[test]
fn r24b_many_idle_connections_do_not_keep_healthz_from_answering() {
    let s = Server::start();
    let mut open: Vec<TcpStream> = (0..200).map(|_| connect(&s)).collect();
    for stream in open.iter_mut().take(50) {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    }
    assert_healthy(&s);
    drop(open);
    assert_healthy(&s);
}

/// SPEC R24c, docs/api.md: a request line over 64 KiB is 414 `uri_too_long`, also when its
/// end and the headers after it arrive in the same read as the rest (it was 431, "headers too
/// large", once the line ended within what the server read); big headers after a short line
/// stay 431.
#[test]
fn r24c_a_request_line_over_64_kib_is_414_whether_or_not_its_end_arrived() {
    let s = Server::start();
    let host = format!("Host: 127.0.0.1:{}\r\n", s.port);
    for len in [64 * 1024 + 1, 70 * 1024, 100 * 1024, 200 * 1024] {
        let request = format!("GET /{} HTTP/1.1\r\n{host}\r\n", "a".repeat(len));
        let r = exchange(&s, request.into_bytes());
        assert_json_error(&r, 414, "uri_too_long");
    }
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    assert_json_error(
        &exchange(&s, big_header.into_bytes()),
        431,
        "request_header_fields_too_large",
    );
    assert_healthy(&s);
}

/// The connection preface of an HTTP/2 client with prior knowledge (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// SPEC R24c: the server speaks HTTP/1.1 only (docs/api.md); an HTTP/2 client with prior
/// knowledge gets a prompt 505 with the JSON error body saying so, not silence — alone, or
/// followed by the SETTINGS frame a real client sends next.
#[test]
fn r24c_an_http2_preface_is_answered_505_saying_the_server_speaks_http_1_1() {
    let s = Server::start();
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    let settings: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    for request in [H2_PREFACE.to_vec(), [H2_PREFACE, settings].concat()] {
        let started = std::time::Instant::now();
        let r = exchange(&s, request);
        assert_json_error(&r, 505, "http_version_not_supported");
        assert_error(&r, 505, "http_version_not_supported", &["HTTP/1.1"]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered only after {:?}",
            started.elapsed()
        );
    }
    assert_healthy(&s);
}
