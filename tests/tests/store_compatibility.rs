//! A store written by an earlier version still loads, whole (SPEC R19, R22): the golden
//! fixture `tests/fixtures/store-v0-2026-12.sqlite` was written by openline as of commit
//! 55ce278 (before typed sources, validated ids and declared group settings): two groups (one
//! with a null session lifetime), two agents, a queue naming an agent that does not exist, a
//! batch of presence signals, a future leave, a conversation accepted by alice, a manual
//! clock moved by 60 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/store-v0-2026-12.sqlite"
);

/// Written by `tests/fixtures/write_store_v1.py` with the first version that has snapshots
/// (formats: log record 1, snapshot 1; migrations 1–2): a snapshot covering everything but
/// two records, an archived conversation, one closed in memory, one offered with its offer
/// deadline pending, one accepted, a round-robin rotation, future leaves, a manual clock.
const FIXTURE_V1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/store-v1-2026-12.sqlite"
);

#[test]
fn r19_r22_a_store_written_by_the_previous_version_loads_with_everything_in_it() {
    let s = Server::builder().seed_store(FIXTURE).start();
    let c1 = s.conversation("c-1");
    assert_eq!(
        (c1["state"].clone(), c1["agent"].clone()),
        (json!("accepted"), json!("alice"))
    );
    let events: Vec<String> = history(&c1).into_iter().map(|(event, ..)| event).collect();
    assert_eq!(events, ["queued", "offered", "accepted"]);
    assert!(s.get("/v1/groups/plain")["session_lifetime_minutes"].is_null());
    assert_eq!(s.get("/v1/groups/short")["session_lifetime_minutes"], 30);
    assert_eq!(
        s.get("/v1/channels/web")["queue"],
        json!(["alice", "bob", "ghost"])
    );
    for (agent, source, said) in [
        ("bob", "hr", "next leave `x`"),
        ("alice", "browser", "session lifetime of group `short`"),
    ] {
        let verdict = s.verdict(agent, "web", source);
        let reason = verdict["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(said), "{agent}/{source}: {verdict}");
    }
    s.expect(
        "PUT",
        "/v1/agents/carol",
        Some(json!({"name": "Carol"})),
        &[201],
    );
}

/// Runs `sql` on the SQLite store at `url`.
fn execute(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

#[test]
fn r22_a_snapshot_that_cannot_be_read_stops_the_start_naming_it() {
    let mut s = Server::start();
    s.put_agent("a", &[]);
    s.crash_in_snapshot("snapshot:compacted");
    let config = s.dir().join("openline.toml");
    let config = config.to_str().unwrap();
    for (sql, says) in [
        (
            "UPDATE openline_snapshot SET format = 99",
            "format 99, written by a newer openline",
        ),
        (
            "UPDATE openline_snapshot SET format = 1, state = substr(state, 1, 40)",
            "the snapshot cannot be read",
        ),
    ] {
        execute(s.store_url(), sql);
        let (ok, out) = run_cli(s.dir(), &["serve", "--config", config], &[]);
        assert!(!ok, "a start on an unreadable snapshot must fail: {out}");
        assert!(out.contains(says) && out.contains("log record 1"), "{out}");
    }
}

#[test]
fn r22_a_log_record_in_a_newer_format_stops_the_start_naming_it() {
    let mut s = Server::start();
    s.put_agent("a", &[]);
    s.put_agent("b", &[]);
    s.kill();
    execute(
        s.store_url(),
        "UPDATE openline_command_log SET format = 7 WHERE seq = 2",
    );
    let config = s.dir().join("openline.toml");
    let (ok, out) = run_cli(
        s.dir(),
        &["serve", "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("log record 2") && out.contains("format 7, written by a newer openline"),
        "{out}"
    );
}

#[test]
fn r19_r22_a_store_with_a_snapshot_a_tail_and_an_archive_loads_with_everything_in_it() {
    let s = Server::builder().seed_store(FIXTURE_V1).start();
    let start = s.now();
    // The archived one reads from the store, the rest from the snapshot and the tail.
    let old = s.conversation("old-1");
    assert_eq!(old["state"], "closed", "{old}");
    let events: Vec<String> = history(&old).into_iter().map(|(e, ..)| e).collect();
    assert_eq!(events, ["queued", "offered", "accepted", "closed"]);
    let c1 = s.conversation("c-1");
    assert_eq!(c1["state"], "accepted");
    assert_eq!(c1["last_message_from"], "customer");
    assert_eq!(s.conversation("m-2")["state"], "closed");
    assert_offered(&s.conversation("m-1"), &["carol"]);
    // The tail after the snapshot: a conversation opened and routed, a second leave.
    let w2 = s.conversation("w-2");
    assert_ne!(w2["state"], "closed", "{w2}");
    let reason = s.verdict("bob", "web", "hr")["reason"].clone();
    assert!(
        reason.as_str().unwrap_or_default().contains("trip"),
        "{reason}"
    );
    assert_eq!(s.get("/v1/groups/night")["session_lifetime_minutes"], 30);
    assert_eq!(
        s.get("/v1/channels/web")["queue"],
        json!(["alice", "bob", "ghost"])
    );
    assert_eq!(s.get("/v1/channels/mail")["policy"], "evenly");
    // The offer deadline taken from the snapshot still fires, at its own instant.
    let at_of = |conv: &Value, event: &str| -> Vec<String> {
        conv["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["event"] == event)
            .map(|h| h["at"].as_str().unwrap().to_owned())
            .collect()
    };
    let offered_at = parse_ts(&at_of(&s.conversation("m-1"), "offered")[0]);
    let due = plus(offered_at, 600);
    s.advance((due - start).num_seconds());
    assert_eq!(at_of(&s.conversation("m-1"), "offer_expired"), [ts(due)]);
}
