//! A dropped database connection (SPEC R23c): the server reconnects with backoff for up to
//! `store.reconnect_timeout`; requests in flight wait, new writes meanwhile get 503, and
//! nothing acknowledged is lost. After the timeout it exits non-zero. PostgreSQL only (a
//! SQLite file has no connection to drop); skipped with a notice without
//! `OPENLINE_TEST_DATABASE_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use openline_tests::db::PgDatabase;
use openline_tests::*;

fn postgres() -> Option<(Backend, Arc<PgDatabase>)> {
    let backend = Backend::postgres()?;
    let Backend::Postgres(db) = &backend else {
        unreachable!("Backend::postgres gives PostgreSQL")
    };
    let db = db.clone();
    Some((backend, db))
}

fn agent_count(s: &Server) -> usize {
    s.get("/v1/agents")["agents"].as_array().unwrap().len()
}

/// Waits (bounded) until `/metrics` says the server is (or is not) reconnecting.
fn wait_reconnecting(s: &Server, reconnecting: bool) {
    let wanted = format!("openline_store_reconnecting {}", u8::from(reconnecting));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .call("GET", "/metrics", None)
        .text()
        .lines()
        .any(|line| line == wanted)
    {
        assert!(Instant::now() < deadline, "never `{wanted}`");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn commit_retries(s: &Server) -> u64 {
    s.call("GET", "/metrics", None)
        .text()
        .lines()
        .find_map(|line| line.strip_prefix("openline_store_commit_retries_total "))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// SPEC R23c, R19: every PostgreSQL session but the lock's is terminated, again and again,
/// while a client writes: the server stays up, and every write it acknowledged is there,
/// also after a restart.
#[test]
fn r23c_dropped_connections_under_load_lose_nothing() {
    let Some((backend, db)) = postgres() else {
        return;
    };
    let mut s = Server::builder().backend(&backend).start();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (port, stop) = (s.port, stop.clone());
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let mut refused = 0;
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("w{n}");
                let body = json!({"name": id}).to_string();
                let path = format!("/v1/agents/{id}");
                match openline_tests::http::send(port, "PUT", &path, Some(body.as_bytes())) {
                    Ok(r) if r.status == 201 => acknowledged.push(id),
                    Ok(r) if r.status == 503 => refused += 1,
                    Ok(r) => panic!("{} {}", r.status, r.text()),
                    Err(e) => panic!("the server stopped answering: {e}"),
                }
                n += 1;
            }
            (acknowledged, refused)
        })
    };
    // Until a termination hit a commit in flight (most do), at least three times.
    for round in 0..30 {
        if round >= 3 && commit_retries(&s) > 0 {
            break;
        }
        let before = agent_count(&s);
        db.terminate_other_sessions();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent_count(&s) < before + 20 {
            assert!(Instant::now() < deadline, "writes did not resume");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (acknowledged, refused) = client.join().unwrap();
    assert!(s.is_running(), "{}", s.log_tail());
    let retries = commit_retries(&s);
    assert!(
        retries > 0,
        "no commit was retried: the fault never hit one"
    );
    println!(
        "{} acknowledged, {refused} refused with 503",
        acknowledged.len()
    );
    s.crash_and_restart();
    let listed: std::collections::BTreeSet<String> =
        ids(&s.get("/v1/agents")["agents"]).into_iter().collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !listed.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
}

/// SPEC R23c: while the database refuses connections, a write in flight waits; new writes
/// get 503 `unavailable` and change nothing; reads are served. When the database is back
/// within the timeout, the waiting write is acknowledged and writes resume.
#[test]
fn r23c_a_write_waits_for_the_store_to_come_back() {
    let Some((backend, db)) = postgres() else {
        return;
    };
    let s = Server::builder().backend(&backend).start();
    s.put_agent("before", &[]);
    db.allow_connections(false);
    db.terminate_other_sessions();
    let waiting = {
        let port = s.port;
        std::thread::spawn(move || {
            openline_tests::http::send(port, "PUT", "/v1/agents/waits", Some(br#"{"name": "W"}"#))
        })
    };
    wait_reconnecting(&s, true);
    let refused = s.call("PUT", "/v1/agents/refused", Some(&json!({"name": "R"})));
    assert_error(&refused, 503, "unavailable", &["reconnecting"]);
    s.expect("GET", "/v1/agents/before", None, &[200]);
    db.allow_connections(true);
    let waited = waiting.join().unwrap().expect("an answer");
    assert_eq!(waited.status, 201, "{}", waited.text());
    wait_reconnecting(&s, false);
    s.put_agent("after", &[]);
    s.expect("GET", "/v1/agents/refused", None, &[404]);
}

/// SPEC R23c: a database that stays unreachable longer than `store.reconnect_timeout` stops
/// the server with a non-zero status (a service manager restarts it); what it acknowledged
/// before is there after the restart, what it refused is not.
#[test]
fn r23c_the_server_exits_non_zero_after_the_reconnect_timeout() {
    let Some((backend, db)) = postgres() else {
        return;
    };
    let mut s = Server::builder()
        .backend(&backend)
        .env("OPENLINE__STORE__RECONNECT_TIMEOUT", "2s")
        .start();
    s.put_agent("before", &[]);
    db.allow_connections(false);
    db.terminate_other_sessions();
    let failed = s.call("PUT", "/v1/agents/lost", Some(&json!({"name": "L"})));
    assert_eq!(failed.status, 503, "{}", failed.text());
    let status = s.wait_exit().expect("the server stops");
    assert!(!status.success(), "it stopped for a fault: {status}");
    assert!(
        s.log_tail()
            .contains("did not come back within the reconnect timeout"),
        "{}",
        s.log_tail()
    );
    db.allow_connections(true);
    s.crash_and_restart();
    s.expect("GET", "/v1/agents/before", None, &[200]);
    s.expect("GET", "/v1/agents/lost", None, &[404]);
}
