//! A webhook receiver for the black-box tests (SPEC R30): an HTTP/1.1 server on a free
//! loopback port that records every request (headers and body) and answers as told: a
//! failure status for the first attempts, or slowly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
    /// What was answered.
    pub status: u16,
}

impl Received {
    /// Header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Answer 500 to everything while set.
    down: bool,
    /// Wait this long before answering each request.
    delay: Duration,
}

/// A running receiver; it stops when dropped (its thread ends with the test process).
pub struct Receiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<Plan>>,
}

impl Receiver {
    /// A receiver answering 200 at once.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a receiver port");
        let port = listener.local_addr().expect("its address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(Plan::default()));
        let (r, p) = (received.clone(), plan.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, p) = (r.clone(), p.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &r, &p);
                });
            }
        });
        Self {
            port,
            received,
            plan,
        }
    }

    /// Its URL with `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers 500 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        self.plan.lock().unwrap().fail_first = n;
    }

    /// Answers 500 to everything (`true`) or 200 again (`false`).
    pub fn set_down(&self, down: bool) {
        self.plan.lock().unwrap().down = down;
    }

    /// Waits `delay` before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        self.plan.lock().unwrap().delay = delay;
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) until `done` holds for the requests so far; them.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    plan: &Mutex<Plan>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let at = Instant::now();
        let (status, delay) = {
            let mut plan = plan.lock().unwrap();
            let status = if plan.down {
                500
            } else if plan.fail_first > 0 {
                plan.fail_first -= 1;
                500
            } else {
                200
            };
            (status, plan.delay)
        };
        std::thread::sleep(delay);
        received.lock().unwrap().push(Received {
            at,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            status,
        });
        let mut out = &stream;
        write!(out, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n")?;
        out.flush()?;
    }
}
