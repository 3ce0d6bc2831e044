#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store on SQLite always, and on PostgreSQL when `OPENLINE_TEST_DATABASE_URL` is set
//! (each test in a fresh database, dropped afterwards).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use openline_core::Event;

use super::writer::Writer;
use super::*;

const RECONNECT: std::time::Duration = std::time::Duration::from_secs(30);

fn at(seconds: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 123_456_789).unwrap()
}

/// A SQLite file removed (with its WAL files) when dropped.
pub(crate) struct TempDb(pub(crate) std::path::PathBuf);

impl TempDb {
    pub(crate) fn new() -> Self {
        Self(std::env::temp_dir().join(format!("openline-store-{}.db", uuid::Uuid::now_v7())))
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".lock", ".tokens"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The PostgreSQL server named by `OPENLINE_TEST_DATABASE_URL`; without it, `None` after
/// saying on the real stderr (not captured by the test harness) that `test` is skipped —
/// never a silent pass — and under `CI=true` a failed test: CI must run these.
pub(crate) fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("OPENLINE_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{test} needs PostgreSQL: OPENLINE_TEST_DATABASE_URL is not set under CI=true")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "skipping {test}: OPENLINE_TEST_DATABASE_URL not set"
            );
            None
        }
    }
}

/// A fresh PostgreSQL database for one test, dropped by [`PgDatabase::drop_now`].
pub(crate) struct PgDatabase {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl PgDatabase {
    /// `None` (after saying so) when `OPENLINE_TEST_DATABASE_URL` is not set.
    pub(crate) async fn create(test: &str) -> Option<Self> {
        let admin = postgres_admin_url(test)?;
        let name = format!("openline_t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }

    pub(crate) async fn drop_now(self) {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin)
            .await
            .unwrap();
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

fn command(n: usize) -> Command {
    Command::PutGroup {
        id: format!("g{n}"),
        settings: [("session_lifetime_minutes", serde_json::json!(1))]
            .into_iter()
            .collect(),
    }
}

/// Command `n`, from an actor for even `n` (with a tab in its name), from the router for odd.
fn record(n: usize) -> Record {
    Record::Command {
        at: at(n as i64),
        json: serde_json::to_string(&command(n)).unwrap(),
        by: n.is_multiple_of(2).then(|| format!("op\t{n}").into()),
    }
}

async fn logged(store: &Store) -> Vec<LogRecord> {
    let mut all = Vec::new();
    store
        .replay(0, |r| {
            all.push(r);
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .unwrap();
    all
}

async fn append_and_replay_round_trip(url: &str) {
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert_eq!(store.manual_clock().await.unwrap(), None);
    let epoch = store.claim().await.unwrap();
    let next = store
        .write(
            epoch,
            1,
            &[record(0), Record::Clock(at(5)), record(1)],
            false,
        )
        .await
        .unwrap();
    assert_eq!(next, 3);
    store
        .write(epoch, next, &[record(2), Record::Clock(at(9))], false)
        .await
        .unwrap();
    // SPEC R23c: a retried batch whose first attempt committed is not written twice, ...
    let retried = [record(2), Record::Clock(at(9))];
    assert_eq!(store.write(epoch, next, &retried, true).await.unwrap(), 4);
    // ... and one whose first attempt did not commit is written.
    assert_eq!(store.write(epoch, 4, &[record(3)], true).await.unwrap(), 5);
    // Written twice without saying so, the log refuses it (the sequence is its key).
    assert!(store.write(epoch, 4, &[record(3)], false).await.is_err());
    store.close().await;

    let store = Store::connect(url).await.unwrap();
    let log = logged(&store).await;
    assert_eq!(log.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        log[2],
        LogRecord {
            seq: 3,
            at: at(2),
            command: command(2),
            // SPEC R28: the actor comes back, a control character replaced (the log is read
            // as tab-separated lines).
            by: Some("op\u{FFFD}2".into()),
        },
        "instants keep nanoseconds"
    );
    assert_eq!(log[1].by, None, "the router's command has no actor");
    assert_eq!(store.manual_clock().await.unwrap(), Some(at(9)));
    assert_eq!(store.last_seq().await.unwrap(), 4);
    store.ping().await.unwrap();
    store.close().await;
}

async fn group_commit_of_concurrent_appends(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let published = Arc::new(std::sync::Mutex::new(Vec::new()));
    let publish = {
        let published = published.clone();
        Arc::new(move |events: &[Arc<crate::events::Published>]| {
            published.lock().unwrap().extend(events.iter().cloned())
        })
    };
    let epoch = store.claim().await.unwrap();
    let (writer, task) = Writer::spawn(url, epoch, 1, RECONNECT, true, publish.clone(), || {})
        .await
        .unwrap();
    // Queued back to back (as handlers do under the engine lock), acknowledged together.
    let acks: Vec<_> = (0..200)
        .map(|n| {
            let event = Event::Queued {
                at: at(n),
                conversation: format!("c{n}").try_into().unwrap(),
                channel: "web".try_into().unwrap(),
            };
            writer
                .submit(Some(record(n as usize)), vec![event])
                .unwrap()
        })
        .collect();
    let waiting: Vec<_> = acks.into_iter().map(tokio::spawn).collect();
    for ack in waiting {
        assert_eq!(ack.await.unwrap().unwrap(), Ok(()));
    }
    assert!(
        writer.commits() < 200,
        "{} commits for 200 appends: no grouping",
        writer.commits()
    );
    let log = logged(&store).await;
    assert_eq!(log.len(), 200);
    assert!(
        log.iter()
            .enumerate()
            .all(|(i, r)| r.command == command(i) && r.seq == i as i64 + 1),
        "log order = submit order"
    );
    let first = published.lock().unwrap().clone();
    assert_eq!(
        first.len(),
        200,
        "every committed event is published once, in order"
    );
    assert!(
        matches!(first[199].event(), Some(Event::Queued { conversation, .. }) if &**conversation == "c199")
    );
    // SPEC R29: numbered 1, 2, … in commit order, and retained with their commands.
    let ids: Vec<i64> = first.iter().map(|e| e.id()).collect();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
    let retained = store
        .events_after(0, Default::default(), 1000)
        .await
        .unwrap();
    assert_eq!(retained.len(), 200);
    assert_eq!(retained[199].data, first[199].data());
    writer.stop();
    task.await.unwrap();
    // A new writer (a restart) goes on from the next id: none is reused.
    let (writer, task) = Writer::spawn(url, epoch, 201, RECONNECT, false, publish, || {})
        .await
        .unwrap();
    let event = Event::Queued {
        at: at(300),
        conversation: "c300".try_into().unwrap(),
        channel: "web".try_into().unwrap(),
    };
    writer
        .submit(None, vec![event])
        .unwrap()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.lock().unwrap()[200].id(), 201);
    let bounds = store.event_bounds().await.unwrap();
    assert_eq!(
        (bounds.oldest, bounds.next),
        (Some(1), 202),
        "not retained, but numbered"
    );
    writer.stop();
    task.await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn sqlite_append_and_replay_round_trip() {
    append_and_replay_round_trip(&TempDb::new().url()).await;
}

async fn large_batches_keep_order_and_sequence(url: &str) {
    // Commands split by a clock record: multi-row INSERT chunks of 128, 32, 8 and 1 rows; and
    // more than two replay pages, the last one short.
    let total = 2 * REPLAY_PAGE as usize + 3;
    let store = Store::connect(url).await.unwrap();
    let mut batch: Vec<Record> = (0..150).map(record).collect();
    batch.push(Record::Clock(at(7)));
    batch.extend((150..total).map(record));
    let epoch = store.claim().await.unwrap();
    assert_eq!(
        store.write(epoch, 1, &batch, false).await.unwrap(),
        total as i64 + 1
    );
    let log = logged(&store).await;
    assert_eq!(log.len(), total);
    for (i, entry) in log.iter().enumerate() {
        assert_eq!(
            (entry.seq, entry.at, &entry.command),
            (i as i64 + 1, at(i as i64), &command(i))
        );
    }
    assert_eq!(store.manual_clock().await.unwrap(), Some(at(7)));
    store.close().await;
}

#[tokio::test]
async fn sqlite_large_batches_keep_order_and_sequence() {
    let db = TempDb::new();
    large_batches_keep_order_and_sequence(&db.url()).await;
}

#[tokio::test]
async fn sqlite_group_commit_of_concurrent_appends() {
    group_commit_of_concurrent_appends(&TempDb::new().url()).await;
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>(0).unwrap().to_lowercase(), "wal");
    let row = sqlx::query("PRAGMA synchronous")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 2, "synchronous=FULL");
    store.close().await;
}

/// SPEC R19, R23c: a commit that fails for the data's sake (not the connection's) fails at
/// once, however long the reconnect timeout: with a day of it, a retry would hang this test.
#[tokio::test]
async fn a_failed_commit_fails_every_write_from_then_on() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    let hook = Arc::new(AtomicBool::new(false));
    let called = hook.clone();
    let epoch = store.claim().await.unwrap();
    let (writer, task) = Writer::spawn(
        &db.url(),
        epoch,
        1,
        std::time::Duration::from_secs(86_400),
        true,
        Arc::new(|_| {}),
        move || called.store(true, Ordering::SeqCst),
    )
    .await
    .unwrap();
    // The log's table disappears under the writer: every write now fails.
    sqlx::query("DROP TABLE openline_command_log")
        .execute(&store.pool)
        .await
        .unwrap();
    let ack = writer.submit(Some(record(0)), Vec::new()).unwrap();
    assert!(ack.await.unwrap().is_err());
    assert!(writer.is_failed() && hook.load(Ordering::SeqCst));
    assert!(writer.submit(Some(record(1)), Vec::new()).is_err());
    writer.stop();
    task.await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_writer_that_cannot_connect_says_so() {
    let error = Writer::spawn(
        "sqlite:///nonexistent-dir/x/openline.db",
        1,
        1,
        RECONNECT,
        true,
        Arc::new(|_| {}),
        || {},
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent-dir/x/openline.db"),
        "{error}"
    );
}

#[test]
fn a_replayed_line_out_of_order_or_incomplete_is_corrupt() {
    let json = serde_json::to_string(&command(1)).unwrap();
    let line = |seq: &str| format!("{seq}\t1\t2026-01-01T00:00:00Z\t\t{json}");
    let read = parse_log_line(4, &line("5")).unwrap();
    assert_eq!((read.seq, read.command, read.by), (5, command(1), None));
    let by = parse_log_line(4, &format!("5\t1\t2026-01-01T00:00:00Z\tops\t{json}")).unwrap();
    assert_eq!(by.by.as_deref(), Some("ops"), "SPEC R28: the actor field");
    let corrupt_at = |result: Result<LogRecord, StoreError>| match result {
        Err(StoreError::Corrupt { seq, .. }) => seq,
        other => panic!("not corrupt: {other:?}"),
    };
    assert_eq!(
        corrupt_at(parse_log_line(5, &line("5"))),
        5,
        "a repeated record"
    );
    assert_eq!(corrupt_at(parse_log_line(5, &line("x"))), 6, "a bad number");
    assert_eq!(
        corrupt_at(parse_log_line(5, "6\t1\t2026-01-01T00:00:00Z\t{}")),
        6,
        "a field missing"
    );
    assert_eq!(corrupt_at(parse_log_line(5, "6\t1\tyesterday\t\t{}")), 6);
    assert_eq!(
        corrupt_at(parse_log_line(
            5,
            &format!("6\tone\t2026-01-01T00:00:00Z\t\t{json}")
        )),
        6,
        "a bad format"
    );
}

#[test]
fn r22_a_record_in_a_newer_format_stops_the_replay_and_says_to_upgrade() {
    let json = serde_json::to_string(&command(1)).unwrap();
    let newer = RECORD_FORMAT + 1;
    match parse_log_line(0, &format!("1\t{newer}\t2026-01-01T00:00:00Z\t\t{json}")) {
        Err(StoreError::Unreplayable { seq: 1, message }) => {
            assert!(message.contains("newer openline"), "{message}");
            assert!(message.contains(&format!("format {newer}")), "{message}");
        }
        other => panic!("read a newer record: {other:?}"),
    }
}

#[test]
fn urls_select_the_backend() {
    assert_eq!(
        StoreKind::from_url("sqlite://openline.db"),
        Ok(StoreKind::Sqlite)
    );
    assert_eq!(
        StoreKind::from_url("postgres://u@h/db"),
        Ok(StoreKind::Postgres)
    );
    assert_eq!(
        StoreKind::from_url("postgresql://u@h/db"),
        Ok(StoreKind::Postgres)
    );
    assert!(
        StoreKind::from_url("mysql://u@h/db")
            .unwrap_err()
            .contains("unsupported")
    );
}

#[tokio::test]
async fn postgres_append_and_replay_round_trip() {
    let Some(db) = PgDatabase::create("postgres_append_and_replay_round_trip").await else {
        return;
    };
    append_and_replay_round_trip(&db.url).await;
    db.drop_now().await;
}

#[tokio::test]
async fn postgres_group_commit_of_concurrent_appends() {
    let Some(db) = PgDatabase::create("postgres_group_commit_of_concurrent_appends").await else {
        return;
    };
    group_commit_of_concurrent_appends(&db.url).await;
    db.drop_now().await;
}

#[tokio::test]
async fn postgres_large_batches_keep_order_and_sequence() {
    let Some(db) = PgDatabase::create("postgres_large_batches_keep_order_and_sequence").await
    else {
        return;
    };
    large_batches_keep_order_and_sequence(&db.url).await;
    db.drop_now().await;
}

/// SPEC R23a: once another server claimed the store, every write of the previous one is
/// refused and leaves nothing; a write in flight during the claim commits before it.
async fn a_claim_fences_out_the_previous_writer(url: &str) {
    let a = Store::connect(url).await.unwrap();
    let b = Store::connect(url).await.unwrap();
    let epoch_a = a.claim().await.unwrap();
    assert_eq!(a.write(epoch_a, 1, &[record(0)], false).await.unwrap(), 2);
    // A's transaction is in flight (its fence proven) when B claims the store.
    let mut tx = a.pool.begin().await.unwrap();
    fence(&mut tx, epoch_a).await.unwrap();
    let json = serde_json::to_string(&command(1)).unwrap();
    insert_commands(&mut tx, 2, &[(at(1), json.as_str(), None)])
        .await
        .unwrap();
    let claim = tokio::spawn(async move {
        let epoch = b.claim().await.unwrap();
        (b, epoch)
    });
    tx.commit().await.unwrap();
    let (b, epoch_b) = claim.await.unwrap();
    assert!(epoch_b > epoch_a);
    assert_eq!(
        logged(&b).await.len(),
        2,
        "the write in flight committed first"
    );
    match a.write(epoch_a, 3, &[record(2)], false).await {
        Err(StoreError::Fenced { mine, current }) => {
            assert_eq!((mine, current), (epoch_a, epoch_b))
        }
        other => panic!("a fenced-out server wrote: {other:?}"),
    }
    let refused = a.write_snapshot(epoch_a, 2, at(2), "{}").await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert_eq!(logged(&b).await.len(), 2, "the refused write left nothing");
    assert_eq!(b.snapshot_seq().await.unwrap(), None);
    assert_eq!(b.write(epoch_b, 3, &[record(2)], false).await.unwrap(), 4);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn sqlite_r23a_a_claim_fences_out_the_previous_writer() {
    a_claim_fences_out_the_previous_writer(&TempDb::new().url()).await;
}

#[tokio::test]
async fn postgres_r23a_a_claim_fences_out_the_previous_writer() {
    let Some(db) = PgDatabase::create("postgres_r23a_a_claim_fences_out").await else {
        return;
    };
    a_claim_fences_out_the_previous_writer(&db.url).await;
    db.drop_now().await;
}

/// SPEC R23c: only a failure of the connection is retried; a failure of the data or the
/// schema is final at once (retrying it would only delay the stop by the reconnect timeout).
#[tokio::test]
async fn r23c_only_connection_failures_are_retried() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    let schema = sqlx::query("SELECT * FROM no_such_table")
        .execute(&store.pool)
        .await
        .unwrap_err();
    assert!(!StoreError::Database(schema).is_transient());
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    assert!(StoreError::Database(sqlx::Error::Io(reset)).is_transient());
    assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
    assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
    let corrupt = StoreError::Corrupt {
        seq: 1,
        message: "bad".into(),
    };
    assert!(!corrupt.is_transient());
    store.close().await;
}

/// SPEC R23c: a PostgreSQL session ended by the administrator (57P01, as in a failover) is a
/// connection failure, retried.
#[tokio::test]
async fn r23c_a_terminated_postgres_session_is_retried() {
    let Some(db) = PgDatabase::create("r23c_a_terminated_postgres_session_is_retried").await else {
        return;
    };
    let store = Store::connect(&db.url).await.unwrap();
    let mut conn = store.pool.acquire().await.unwrap();
    let ended = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    let code = match &ended {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    assert_eq!(code.as_deref(), Some("57P01"), "{ended}");
    let error = StoreError::Database(ended);
    assert!(error.is_transient(), "{error}");
    drop(conn);
    store.close().await;
    db.drop_now().await;
}

/// Runs one test of this binary (`test`, by its full name) with `CI` set to `ci` and no
/// `OPENLINE_TEST_DATABASE_URL`: whether it passed, and what it printed.
fn run_without_database(test: &str, ci: Option<&str>) -> (bool, String) {
    let mut run = std::process::Command::new(std::env::current_exe().unwrap());
    run.args(["--exact", test, "--nocapture"])
        .env_remove("OPENLINE_TEST_DATABASE_URL");
    match ci {
        Some(value) => run.env("CI", value),
        None => run.env_remove("CI"),
    };
    let out = run.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn without_a_database_postgresql_tests_say_they_skip_and_fail_under_ci() {
    // Issue #20 item 19: they passed silently; CI must never miss them.
    let test = "store::tests::postgres_append_and_replay_round_trip";
    let (passed, text) = run_without_database(test, None);
    assert!(passed, "{text}");
    assert!(text.contains("skipping"), "{text}");
    let (passed, text) = run_without_database(test, Some("true"));
    assert!(!passed, "{text}");
    assert!(text.contains("CI=true"), "{text}");
}
