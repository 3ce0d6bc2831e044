//! A deliberately small HTTP/1.1 client over `std::net`: one connection per request
//! (`Connection: close`), raw bodies allowed (malformed JSON, oversized payloads), chunked
//! responses decoded, and a Server-Sent Events reader with deadlines.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one request may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower-cased) and values.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the raw body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response {} is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn request_head(
    port: u16,
    method: &str,
    path: &str,
    body_len: Option<usize>,
    headers: &[(&str, &str)],
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match body_len {
        Some(len) => {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {len}\r\n"));
        }
        None if method != "GET" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    head
}

/// Sends one request to `127.0.0.1:port` and reads the whole response.
///
/// Large bodies are written from a second thread so that a server answering early (413)
/// is read rather than lost in a broken pipe.
pub fn send(port: u16, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
    send_with(port, method, path, body, &[])
}

/// [`send`] with extra request headers (e.g. `Authorization`).
pub fn send_with(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let head = request_head(port, method, path, body.map(<[u8]>::len), headers);
    stream.write_all(head.as_bytes())?;
    let writer = match body {
        Some(bytes) if bytes.len() > 256 * 1024 => {
            let mut out = stream.try_clone()?;
            let bytes = bytes.to_vec();
            // The server may close early; a failed write is expected then.
            Some(std::thread::spawn(move || drop(out.write_all(&bytes))))
        }
        Some(bytes) => {
            stream.write_all(bytes)?;
            None
        }
        None => None,
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the response arrived (server closed with our body unread).
            Err(_) if has_complete_head(&raw) => break,
            Err(e) => return Err(e),
        }
    }
    drop(stream);
    if let Some(handle) = writer {
        drop(handle.join());
    }
    parse_response(&raw)
}

fn has_complete_head(raw: &[u8]) -> bool {
    find(raw, b"\r\n\r\n").is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Status and headers of a response head (without the blank line).
fn parse_head(head: &[u8]) -> io::Result<(u16, Vec<(String, String)>)> {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// Parses one complete response (head and body) read from a connection.
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        bad(format!(
            "no response head in {:?}",
            String::from_utf8_lossy(raw)
        ))
    })?;
    let (status, headers) = parse_head(&raw[..end])?;
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        let mut decoder = Dechunker::default();
        decoder.push(rest)?;
        decoder.out
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Default)]
struct Dechunker {
    pending: Vec<u8>,
    out: Vec<u8>,
    /// The last (empty) chunk arrived: the body is complete.
    finished: bool,
}

impl Dechunker {
    /// Adds raw bytes; decodes every complete chunk.
    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        loop {
            let Some(line_end) = find(&self.pending, b"\r\n") else {
                return Ok(());
            };
            let size_text = String::from_utf8_lossy(&self.pending[..line_end]).into_owned();
            let size_hex = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                self.pending.clear();
                self.finished = true;
                return Ok(());
            }
            let start = line_end + 2;
            if self.pending.len() < start + size + 2 {
                return Ok(());
            }
            self.out
                .extend_from_slice(&self.pending[start..start + size]);
            self.pending.drain(..start + size + 2);
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `id:` line, if any (SPEC R29).
    pub id: Option<String>,
    /// The `event:` line (the type).
    pub event: String,
    /// The `data:` lines parsed as JSON (`Value::Null` when absent or not JSON).
    pub data: Value,
}

/// An open `text/event-stream` response being read.
pub struct EventStream {
    stream: TcpStream,
    chunked: Option<Dechunker>,
    text: String,
}

impl EventStream {
    /// Opens `GET path` and waits for the response head (so the subscription exists).
    pub fn open(port: u16, path: &str) -> io::Result<Self> {
        Self::open_with(port, path, &[])
    }

    /// [`EventStream::open`] with extra request headers (e.g. `Last-Event-ID`).
    pub fn open_with(port: u16, path: &str, headers: &[(&str, &str)]) -> io::Result<Self> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        );
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(bad("event stream closed before its head"));
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let (status, headers) = parse_head(&raw[..end])?;
        let response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status != 200
            || !response
                .header("content-type")
                .is_some_and(|v| v.contains("text/event-stream"))
        {
            return Err(bad(format!(
                "GET {path}: status {status}, headers {:?}",
                response.headers
            )));
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
            .then(Dechunker::default);
        let mut me = Self {
            stream,
            chunked,
            text: String::new(),
        };
        me.feed(&raw[end + 4..])?;
        Ok(me)
    }

    fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.chunked {
            Some(d) => {
                d.push(bytes)?;
                self.text
                    .push_str(&String::from_utf8_lossy(&std::mem::take(&mut d.out)));
            }
            None => self.text.push_str(&String::from_utf8_lossy(bytes)),
        }
        self.text = self.text.replace("\r\n", "\n");
        Ok(())
    }

    /// The next event with a type, or `None` once `deadline` passed.
    pub fn next_before(&mut self, deadline: Instant) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).ok()?;
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.feed(&buf[..n]).ok()?,
            }
        }
    }

    /// Whether the server ends the stream (its last chunk, or the connection closes) within
    /// `timeout`; events that arrive meanwhile are passed over.
    pub fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.chunked.as_ref().is_some_and(|d| d.finished) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    if self.feed(&buf[..n]).is_err() {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// Reads events until one satisfies `stop` (included) or `timeout` passes.
    pub fn read_until(
        &mut self,
        timeout: Duration,
        stop: impl Fn(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(event) = self.next_before(deadline) {
            let done = stop(&event);
            seen.push(event);
            if done {
                break;
            }
        }
        seen
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut id = None;
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
        }
    }
    let data = serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null);
    event.map(|event| SseEvent { id, event, data })
}

/// Whether a JSON value contains the string `needle` anywhere (as a whole string value).
pub fn mentions(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| mentions(v, needle)),
        Value::Object(map) => map.values().any(|v| mentions(v, needle)),
        _ => false,
    }
}
