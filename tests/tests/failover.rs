//! Failover (SPEC R23): a standby on the same store follows the active server's log as it is
//! committed, takes over when the active server dies, and nothing the dead server
//! acknowledged is missing. Runs on SQLite always and on PostgreSQL when
//! `OPENLINE_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use openline_tests::*;

const CONVERSATIONS: [&str; 4] = ["c0", "c1", "c2", "c3"];

/// Agents, a channel, conversations offered, accepted and closed.
fn some_state(s: &Server, tag: &str) {
    for agent in ["a", "b"] {
        s.put_agent(&format!("{agent}{tag}"), &[]);
        s.signal(&format!("{agent}{tag}"), "browser", "activity");
    }
    s.put_channel(
        &format!("web{tag}"),
        &[&format!("a{tag}"), &format!("b{tag}")],
        json!({"check_availability": true, "sources": ["browser"]}),
    );
}

/// SPEC R23b: the standby follows what the active server writes after it started (across
/// the active server's snapshots, which delete the log behind them), and after SIGKILL of the
/// active server it serves the same state, with the manual clock where it stood.
fn standby_takes_over_with_everything(backend: &Backend) {
    let mut active = Server::builder()
        .backend(backend)
        // A snapshot (and compaction) every few records, while the standby follows.
        .env("OPENLINE__STORE__SNAPSHOT_RECORDS", "3")
        .start();
    some_state(&active, "1");
    let mut standby = Server::builder().store_of(&active).start_standby();
    some_state(&active, "2");
    for (channel, id) in [("web1", "c0"), ("web2", "c1")] {
        let offered = offered_single(&active.new_conversation(channel, id));
        active.accept(id, &offered);
    }
    active.close("c1");
    active.new_conversation("web1", "c2");
    active.advance(30);
    active.new_conversation("web2", "c3");
    wait_for_a_snapshot(&active);
    active.signal("a2", "browser", "activity");
    let before = snapshot(&active, &CONVERSATIONS, &[]);
    let clock = active.now();
    active.kill();
    standby.wait_serving();
    assert_eq!(snapshot(&standby, &CONVERSATIONS, &[]), before);
    assert_eq!(
        standby.now(),
        clock,
        "the manual clock resumes where it stood"
    );
    // It writes, and a restart of it keeps what it wrote.
    standby.put_agent("after", &[]);
    standby.crash_and_restart();
    standby.expect("GET", "/v1/agents/after", None, &[200]);
}

/// Waits (bounded) until the server's background upkeep wrote a snapshot.
fn wait_for_a_snapshot(s: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = s.call("GET", "/metrics", None).text();
        let written = metrics
            .lines()
            .find_map(|line| line.strip_prefix("openline_snapshots_total "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        if written.is_some_and(|n| n > 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot: {metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

backend_tests!(standby_takes_over_with_everything:
    r23b_standby_takes_over_with_everything_sqlite,
    r23b_standby_takes_over_with_everything_postgres);

/// SPEC R19, R23: a pair of servers on one store, the active one killed -9 again and again
/// while a client writes as fast as it can to whichever one answers; the killed one comes
/// back as the standby. Every write acknowledged with a 2xx, by any server, is there at the
/// end, and a write that was not acknowledged is either there or not (never half).
fn no_acknowledged_write_lost_across_takeovers(backend: &Backend) {
    let mut first = Server::builder().backend(backend).start();
    let mut second = Server::builder().store_of(&first).start_standby();
    let ports = Arc::new(std::sync::Mutex::new(vec![first.port, second.port]));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (ports, stop) = (ports.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("w{n}");
                let body = json!({"name": id}).to_string();
                let targets = ports.lock().unwrap().clone();
                for port in targets {
                    let path = format!("/v1/agents/{id}");
                    let sent =
                        openline_tests::http::send(port, "PUT", &path, Some(body.as_bytes()));
                    if sent.is_ok_and(|r| r.status == 201) {
                        acknowledged.push(id.clone());
                        break;
                    }
                }
                n += 1;
            }
            (acknowledged, n)
        })
    };
    let wait_for_writes = |server: &Server| {
        let start = server.get("/v1/agents")["agents"].as_array().unwrap().len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while server.get("/v1/agents")["agents"].as_array().unwrap().len() < start + 20 {
            assert!(std::time::Instant::now() < deadline, "no writes arrive");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    for _round in 0..3 {
        wait_for_writes(&first);
        first.kill();
        second.wait_serving();
        first.crash_and_restart_as_standby();
        *ports.lock().unwrap() = vec![second.port, first.port];
        std::mem::swap(&mut first, &mut second);
    }
    wait_for_writes(&first);
    stop.store(true, Ordering::SeqCst);
    let (acknowledged, sent) = client.join().unwrap();
    assert!(
        acknowledged.len() > 60,
        "{} of {sent} acknowledged",
        acknowledged.len()
    );
    let listed: std::collections::BTreeSet<String> = ids(&first.get("/v1/agents")["agents"])
        .into_iter()
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !listed.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    // The last standby took over at once too.
    first.kill();
    second.wait_serving();
    let after: std::collections::BTreeSet<String> = ids(&second.get("/v1/agents")["agents"])
        .into_iter()
        .collect();
    assert_eq!(after, listed);
}

backend_tests!(no_acknowledged_write_lost_across_takeovers:
    r23_chaos_no_acknowledged_write_lost_across_takeovers_sqlite,
    r23_chaos_no_acknowledged_write_lost_across_takeovers_postgres);
