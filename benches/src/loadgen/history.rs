//! Bounded by what is live, not by history (SPEC R21, issue #10): two runs over HTTP against
//! the real server on a fresh SQLite file.
//!
//! - `loadgen history`: sets up the live state (`--agents` agents, channel `web`, `--open`
//!   conversations opened and accepted), then writes `--records` records of history as fast as
//!   `--concurrency` connections can (conversation life cycles — open, accept, an agent
//!   message, close: 4 logged commands — and single-signal heartbeats, `POST /v1/signals`
//!   with one messenger heartbeat or browser activity: 1 logged command each; every accepted
//!   command is one log record, counted client-side). Then it kills the server (SIGKILL, a
//!   crash) and starts it `--restarts` times on the same store, each time measuring the time
//!   from spawn to `/readyz` 200, the RSS once ready, and that the live state is intact (from
//!   `/metrics` and `GET /v1/conversations/{id}` of a sample), then kills it again. Last it
//!   reads the store (file sizes, rows of the log, snapshot and archive tables, their bytes
//!   on disk from SQLite's `dbstat`).
//! - `loadgen snapshot-pause`: the same live state, then a steady paced load (the same mix of
//!   life cycles and heartbeats) on a server that never snapshots during it, and on one that
//!   snapshots every `--snapshot-records` records; request latencies (from each request's
//!   scheduled instant) overall, and during a snapshot vs. outside one, beside what the
//!   server logged of each snapshot (pause, serialize, write, bytes).
//!
//! `--server-bin PATH` runs another server binary (`PATH serve`, configured by `OPENLINE__…`
//! environment variables like this binary's own server), e.g. one built from the commit
//! before snapshots existed; settings such a binary does not know are only set when asked
//! for (`--snapshot-records`, `--snapshot-interval`, `--closed-in-memory`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::{Map, Value, json};
use sqlx::{Connection as _, Row as _};

use super::client::{Conn, json_body};
use super::options::{Options, parse_duration};
use super::scenarios::{CHANNEL, agent, open_conversation};
use super::server::{ScratchDir, ServerProcess};
use super::stats::{Tally, percentile, round};

/// Records one conversation life cycle logs: open, accept, an agent message, close.
const LIFECYCLE_RECORDS: u64 = 4;
/// Live conversations whose state is read back through the API after each restart.
const API_SAMPLE: usize = 100;
/// The server's log filter: warnings, plus the upkeep's INFO line per snapshot.
const SERVER_LOG: &str = "warn,openline_server::runtime::upkeep=info";

/// Which server runs, and how it is configured (both subcommands).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Run this server binary (`PATH serve`) instead of this binary's own server, e.g. the
    /// `openline` built from an older commit.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// `store.snapshot_records` (unset: the server's default, 100000; never set for an old
    /// binary that lacks it).
    #[arg(long)]
    pub snapshot_records: Option<u64>,
    /// `store.snapshot_interval`, e.g. `10m` (unset: the server's default).
    #[arg(long)]
    pub snapshot_interval: Option<String>,
    /// `retention.closed_in_memory`, e.g. `1s` (unset: the server's default, 1h).
    #[arg(long)]
    pub closed_in_memory: Option<String>,
    /// The server's log filter (`RUST_LOG`); its log goes to `server.log` in the run's
    /// scratch directory, and its INFO lines are timed relative to the spawn.
    #[arg(long, default_value = SERVER_LOG)]
    pub server_log: String,
}

/// `loadgen history` options.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryOptions {
    /// Agents of the live state (all in channel `web`'s queue, messenger open).
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Open conversations of the live state (opened and accepted by the agent offered).
    #[arg(long, default_value_t = 10_000)]
    pub open: usize,
    /// Records of history to write, one fresh store each (comma-separated: `0,1000000`).
    #[arg(long, value_delimiter = ',', default_value = "0,1000000")]
    pub records: Vec<u64>,
    /// Share of the history's records that are conversation life cycles (the rest are
    /// single-signal heartbeats).
    #[arg(long, default_value_t = 0.5)]
    pub conversation_share: f64,
    /// Connections writing the history (one request in flight each).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Restarts timed on each store (each after a SIGKILL).
    #[arg(long, default_value_t = 3)]
    pub restarts: usize,
    /// The server under test.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `loadgen snapshot-pause` options.
#[derive(Debug, Clone, clap::Args)]
pub struct PauseOptions {
    /// Agents of the live state.
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Open (accepted) conversations of the live state.
    #[arg(long, default_value_t = 10_000)]
    pub open: usize,
    /// Length of the measured load, per phase.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests per second of all connections together (paced, open loop; latency counts
    /// from each request's scheduled instant).
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Connections carrying the paced load.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Share of the load's records that are conversation life cycles.
    #[arg(long, default_value_t = 0.5)]
    pub conversation_share: f64,
    /// `store.snapshot_records` of the `frequent` phase.
    #[arg(long, default_value_t = 20_000)]
    pub frequent_records: u64,
    /// Phases, each on a fresh server and store: `none` (snapshot_records and interval too
    /// large to snapshot during the run), `frequent` (`--frequent-records`), `baseline` (no
    /// snapshot setting at all: for a `--server-bin` that has none).
    #[arg(long, value_delimiter = ',', default_value = "none,frequent")]
    pub phases: Vec<String>,
    /// Server binary and retention (its snapshot settings are the phase's).
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The environment of the server under test: [`super::SERVER_ENV`] (presence timeouts of
/// 1 h), the browser's idle timeout of 1 h too, the upkeep's log, and the settings asked for.
pub(super) fn server_env(args: &ServerArgs) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = super::SERVER_ENV
        .iter()
        .map(|&(name, value)| (name, value.to_owned()))
        .collect();
    env.push(("OPENLINE__PLUGINS__BROWSER__IDLE_TIMEOUT", "1h".into()));
    env.push(("RUST_LOG", args.server_log.clone()));
    if let Some(records) = args.snapshot_records {
        env.push(("OPENLINE__STORE__SNAPSHOT_RECORDS", records.to_string()));
    }
    if let Some(interval) = &args.snapshot_interval {
        env.push(("OPENLINE__STORE__SNAPSHOT_INTERVAL", interval.clone()));
    }
    if let Some(keep) = &args.closed_in_memory {
        env.push(("OPENLINE__RETENTION__CLOSED_IN_MEMORY", keep.clone()));
    }
    env
}

/// Starts the server of `args` on the SQLite file `db`, logging to `log`; waits until ready.
async fn start(
    args: &ServerArgs,
    env: &[(&'static str, String)],
    db: &Path,
    log: &Path,
) -> anyhow::Result<(ServerProcess, Duration)> {
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let url = format!("sqlite://{}", db.display());
    let mut server = ServerProcess::spawn_with(args.server_bin.as_deref(), &url, &env, Some(log))?;
    let ready = server.wait_ready(Duration::from_secs(1800)).await?;
    Ok((server, ready))
}

/// The id of live conversation `index`.
fn live(index: usize) -> String {
    format!("live-{index:06}")
}

/// The live state: the fixture of [`super::scenarios::setup`] (agents, channels, messenger
/// open), then `open` conversations opened on `web` and accepted by the agent each was
/// offered to.
pub(super) async fn live_state(
    addr: SocketAddr,
    agents: usize,
    open: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    super::scenarios::setup(addr, agents, concurrency).await?;
    let workers = concurrency.max(1);
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut tally = Tally::default();
                for index in (worker..open).step_by(workers) {
                    let id = live(index);
                    let offered = open_conversation(&mut conn, &mut tally, CHANNEL, &id, "Hi")
                        .await
                        .ok_or_else(|| anyhow::anyhow!("opening {id}: {:?}", tally.samples))?
                        .ok_or_else(|| anyhow::anyhow!("{id} was not offered on arrival"))?;
                    conn.ok(
                        Method::POST,
                        &format!("/v1/conversations/{id}/accept"),
                        &json!({"agent": offered}),
                    )
                    .await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// What a history worker does next, keeping its records near `share` life cycles.
#[derive(Debug, Default)]
struct Mix {
    lifecycle_records: u64,
    heartbeat_records: u64,
    heartbeats: u64,
    lifecycles: u64,
    /// The life cycle under way and its next step (0 = open … 3 = close).
    current: Option<(String, Option<String>, u8)>,
}

impl Mix {
    /// Whether the next unit should be a life cycle.
    fn lifecycle_next(&self, share: f64) -> bool {
        let total = self.lifecycle_records + self.heartbeat_records;
        share > 0.0 && (self.lifecycle_records as f64) <= share * total as f64
    }

    /// A single-signal heartbeat of the worker's next agent: a messenger heartbeat twice out
    /// of three, browser activity once (the help desk: every 30 s and every 60 s).
    fn heartbeat(&mut self, worker: usize, workers: usize, agents: usize) -> Value {
        let n = self.heartbeats as usize * workers + worker;
        self.heartbeats += 1;
        let (source, event) = if n % 3 == 2 {
            ("browser", "activity")
        } else {
            ("messenger", "heartbeat")
        };
        json!([{"agent": agent(n % agents.max(1)), "source": source, "event": event}])
    }
}

/// One request of a life cycle (`step` of conversation `id`, offered to `offered`): whether
/// it was accepted (one record), and whether the life cycle goes on.
async fn lifecycle_step(
    conn: &mut Conn,
    tally: &mut Tally,
    id: &str,
    offered: &mut Option<String>,
    step: u8,
) -> (bool, bool) {
    match step {
        0 => match open_conversation(conn, tally, CHANNEL, id, "Hello?").await {
            Some(agent) => {
                *offered = agent;
                (true, true)
            }
            None => (false, false),
        },
        1 | 2 => {
            let Some(agent) = offered.clone() else {
                return (false, true); // not offered: straight to close
            };
            let (path, body) = if step == 1 {
                (
                    format!("/v1/conversations/{id}/accept"),
                    json!({"agent": agent}),
                )
            } else {
                let message = json!({"from": "agent", "agent": agent, "text": "How can I help?"});
                (format!("/v1/conversations/{id}/messages"), message)
            };
            let done = conn
                .call(tally, Method::POST, &path, json_body(&body), &[409])
                .await;
            if done.is_none() {
                *offered = None;
            }
            (done.is_some(), true)
        }
        _ => {
            let path = format!("/v1/conversations/{id}/close");
            let done = conn.call(tally, Method::POST, &path, None, &[409]).await;
            (done.is_some(), false)
        }
    }
}

/// Counts shared by the history writers.
#[derive(Debug, Default)]
struct Progress {
    /// Records claimed (a life cycle claims 4 before it starts).
    claimed: AtomicU64,
    /// Records accepted by the server (2xx of a command).
    accepted: AtomicU64,
}

/// Writes `target` records of history over `concurrency` connections, as fast as they go.
pub(super) async fn write_history(
    addr: SocketAddr,
    agents: usize,
    target: u64,
    share: f64,
    concurrency: usize,
) -> (Value, u64) {
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let workers = concurrency.max(1);
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let done = progress.accepted.load(Ordering::Relaxed);
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "history: {done} records in {seconds:.0} s ({:.0}/s)",
                    done as f64 / seconds.max(1e-9)
                );
            }
        })
    };
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut tally = Tally::default();
                let mut mix = Mix::default();
                loop {
                    let lifecycle = mix.lifecycle_next(share);
                    let cost = if lifecycle { LIFECYCLE_RECORDS } else { 1 };
                    if progress.claimed.fetch_add(cost, Ordering::Relaxed) >= target {
                        break;
                    }
                    let mut accepted = 0;
                    if lifecycle {
                        let id = format!("h-{worker}-{}", mix.lifecycles);
                        mix.lifecycles += 1;
                        let mut offered = None;
                        for step in 0..4 {
                            let (ok, go_on) =
                                lifecycle_step(&mut conn, &mut tally, &id, &mut offered, step)
                                    .await;
                            accepted += u64::from(ok);
                            if !go_on {
                                break;
                            }
                        }
                        tally.conversations += 1;
                        mix.lifecycle_records += LIFECYCLE_RECORDS;
                    } else {
                        let body = mix.heartbeat(worker, workers, agents);
                        let sent = conn
                            .call(
                                &mut tally,
                                Method::POST,
                                "/v1/signals",
                                json_body(&body),
                                &[],
                            )
                            .await;
                        accepted += u64::from(sent.is_some());
                        tally.signals += 1;
                        mix.heartbeat_records += 1;
                    }
                    progress.accepted.fetch_add(accepted, Ordering::Relaxed);
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok(tally) => total.merge(tally),
            Err(error) => total.error(format!("worker failed: {error}")),
        }
    }
    reporter.abort();
    let elapsed = started.elapsed();
    let accepted = progress.accepted.load(Ordering::Relaxed);
    let mut summary = total.summary(elapsed);
    summary["records_accepted"] = json!(accepted);
    summary["records_per_sec"] = json!(round(accepted as f64 / elapsed.as_secs_f64(), 0));
    summary["lifecycles"] = summary["conversations"].take();
    summary["heartbeats"] = summary["signals"].take();
    for key in [
        "conversations",
        "signals",
        "conversations_per_sec",
        "signals_per_sec",
        "offered_on_arrival",
        "signal_batch_p50_ms",
        "signal_batch_p99_ms",
        "signal_batch_p999_ms",
        "requeues_measured",
        "requeue_p50_ms",
        "requeue_p99_ms",
        "requeue_max_ms",
    ] {
        if let Some(object) = summary.as_object_mut() {
            object.remove(key);
        }
    }
    (summary, accepted)
}

/// The `/metrics` lines whose name starts with one of `prefixes`, as name → value.
async fn metrics(addr: SocketAddr, prefixes: &[&str]) -> anyhow::Result<Value> {
    let mut conn = Conn::new(addr);
    let reply = conn.send(Method::GET, "/metrics", None).await?;
    let text = String::from_utf8_lossy(&reply.body);
    let mut out = Map::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        if prefixes.iter().any(|p| line.starts_with(p))
            && let Some((name, value)) = line.rsplit_once(' ')
        {
            out.insert(name.into(), json!(value.parse::<f64>().unwrap_or(f64::NAN)));
        }
    }
    Ok(Value::Object(out))
}

/// The metrics a history run looks at (a missing one is a server without it).
const WATCHED: [&str; 8] = [
    "openline_agents ",
    "openline_conversations{",
    "openline_snapshots_total",
    "openline_snapshot_pause_seconds",
    "openline_snapshot_bytes",
    "openline_archived_conversations_total",
    "openline_closed_conversations_in_memory",
    "openline_store_commits_total",
];

/// How many of a sample of the live conversations the API shows as accepted.
pub(super) async fn live_sample_accepted(addr: SocketAddr, open: usize) -> usize {
    let mut conn = Conn::new(addr);
    let step = (open / API_SAMPLE).max(1);
    let mut accepted = 0;
    for index in (0..open).step_by(step).take(API_SAMPLE) {
        let path = format!("/v1/conversations/{}", live(index));
        if let Ok(reply) = conn.send(Method::GET, &path, None).await
            && reply.status == 200
            && serde_json::from_slice::<Value>(&reply.body)
                .is_ok_and(|view| view["state"] == "accepted")
        {
            accepted += 1;
        }
    }
    accepted
}

/// Now, in microseconds since 1970.
fn unix_micros() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    u64::try_from(since.unwrap_or_default().as_micros()).unwrap_or(u64::MAX)
}

/// The lines `log` got after byte `from` (at most 20), each prefixed with its milliseconds
/// since `spawned_at` (µs since 1970) when its instant can be read: where a start spends its
/// time.
fn log_since(log: &Path, from: u64, spawned_at: u64) -> Vec<String> {
    let text = std::fs::read(log).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    String::from_utf8_lossy(&text[start..])
        .lines()
        .take(20)
        .map(|line| {
            let at = line
                .split_whitespace()
                .next()
                .and_then(|first| chrono::DateTime::parse_from_rfc3339(first).ok())
                .and_then(|at| u64::try_from(at.timestamp_micros()).ok());
            match at {
                Some(at) => {
                    let ms = (at as f64 - spawned_at as f64) / 1000.0;
                    format!("+{ms:.0} ms: {}", line.get(28..).unwrap_or(line).trim())
                }
                None => line.to_owned(),
            }
        })
        .collect()
}

/// Size of `path` in bytes (0 when absent).
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `db`'s file, its WAL, and both together.
fn store_files(db: &Path) -> Value {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let (db_bytes, wal_bytes) = (file_size(db), file_size(&wal));
    json!({
        "db_bytes": db_bytes,
        "wal_bytes": wal_bytes,
        "store_mib": round((db_bytes + wal_bytes) as f64 / 1048576.0, 1),
    })
}

/// Reads the store (read-only, the server stopped): rows of each table, the snapshot's
/// size, and the bytes on disk of each table and index (SQLite's `dbstat`, when built in).
async fn inspect_store(db: &Path) -> anyhow::Result<Value> {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    let mut out = Map::new();
    for table in [
        "openline_command_log",
        "openline_snapshot",
        "openline_conversation",
        "openline_conversation_history",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .and_then(|row| row.try_get::<i64, _>(0));
        out.insert(format!("{table}_rows"), json!(rows.ok()));
    }
    // The snapshot's state column is the largest text of its row, whatever its name.
    let snapshot = sqlx::query("SELECT * FROM openline_snapshot ORDER BY 1 DESC LIMIT 1")
        .fetch_optional(&mut conn)
        .await;
    if let Ok(Some(row)) = snapshot {
        let longest = (0..sqlx::Row::len(&row))
            .filter_map(|i| row.try_get::<String, _>(i).ok())
            .map(|text| text.len())
            .max();
        out.insert("snapshot_json_bytes".into(), json!(longest));
    }
    let pages = sqlx::query("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        .fetch_all(&mut conn)
        .await;
    match pages {
        Ok(rows) => {
            let bytes: BTreeMap<String, i64> = rows
                .iter()
                .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
                .collect();
            out.insert("bytes_on_disk".into(), json!(bytes));
        }
        Err(error) => {
            out.insert("bytes_on_disk".into(), json!(format!("{error}")));
        }
    }
    let page_count: Option<i64> = sqlx::query("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get(0))
        .ok();
    let free: Option<i64> = sqlx::query("PRAGMA freelist_count")
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get(0))
        .ok();
    out.insert("page_count".into(), json!(page_count));
    out.insert("freelist_pages".into(), json!(free));
    conn.close().await?;
    Ok(Value::Object(out))
}

/// Sum of `bytes_on_disk` of the tables and indexes whose name contains `part`.
fn disk_bytes_of(store: &Value, matches: impl Fn(&str) -> bool) -> Option<i64> {
    let bytes = store["bytes_on_disk"].as_object()?;
    Some(
        bytes
            .iter()
            .filter(|(name, _)| matches(name))
            .filter_map(|(_, v)| v.as_i64())
            .sum(),
    )
}

/// Median, min and max of `values` (rounded to `digits`).
pub(super) fn spread(values: &[f64], digits: i32) -> Value {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return Value::Null;
    }
    json!({
        "median": round(sorted[sorted.len() / 2], digits),
        "min": round(sorted[0], digits),
        "max": round(sorted[sorted.len() - 1], digits),
    })
}

/// `loadgen history`: one fresh store per `--records` value; one JSON line each, and a
/// summary line last.
pub async fn run_history(options: &Options, history: &HistoryOptions) -> anyhow::Result<()> {
    let _ = options;
    let env = server_env(&history.server);
    let mut runs = Vec::new();
    for &target in &history.records {
        let run = history_run(history, &env, target).await?;
        println!("{run}");
        runs.push(run);
    }
    let line = json!({
        "mode": "history",
        "server_bin": history.server.server_bin,
        "closed_in_memory": history.server.closed_in_memory,
        "snapshot_records": history.server.snapshot_records,
        "agents": history.agents,
        "open": history.open,
        "side_by_side": runs.iter().map(|run| json!({
            "records": run["records_accepted"],
            "generate_s": run["generate"]["seconds"],
            "records_per_sec": run["generate"]["records_per_sec"],
            "restart_s": run["restart_s"],
            "rss_mib": run["rss_mib"],
            "rss_before_kill_mib": run["before_kill"]["rss_mib"],
            "store_mib": run["store_after_kill"]["store_mib"],
            "log_rows": run["store"]["openline_command_log_rows"],
            "live_ok": run["live_ok"],
        })).collect::<Vec<_>>(),
    });
    println!("{line}");
    Ok(())
}

async fn history_run(
    history: &HistoryOptions,
    env: &[(&'static str, String)],
    target: u64,
) -> anyhow::Result<Value> {
    let dir = ScratchDir::new(&format!("history-{target}"))?;
    let db = dir.0.join("openline.db");
    let log = dir.0.join("server.log");
    let (server, first_ready) = start(&history.server, env, &db, &log).await?;
    let setup_started = Instant::now();
    live_state(
        server.addr,
        history.agents,
        history.open,
        history.concurrency,
    )
    .await?;
    let setup_s = setup_started.elapsed().as_secs_f64();
    println!(
        "history {target}: live state ({} agents, {} accepted conversations) in {setup_s:.1} s; writing history",
        history.agents, history.open
    );
    let (generate, accepted) = write_history(
        server.addr,
        history.agents,
        target,
        history.conversation_share,
        history.concurrency,
    )
    .await;
    println!("history {target}: {generate}");
    let before_kill = json!({
        "rss_mib": server.rss().map(|b| round(b as f64 / 1048576.0, 1)),
        "peak_rss_mib": server.peak_rss().map(|b| round(b as f64 / 1048576.0, 1)),
        "metrics": metrics(server.addr, &WATCHED).await.unwrap_or(Value::Null),
    });
    server.kill()?;
    let after_kill = store_files(&db);
    let mut restarts = Vec::new();
    for restart in 0..history.restarts.max(1) {
        let log_from = file_size(&log);
        let spawned_at = unix_micros();
        let spawned = Instant::now();
        let (server, ready) = start(&history.server, env, &db, &log).await?;
        let rss = server.rss().unwrap_or(0);
        let peak = server.peak_rss().unwrap_or(0);
        let gauges = metrics(server.addr, &WATCHED).await?;
        let sample = live_sample_accepted(server.addr, history.open).await;
        let accepted_gauge = gauges["openline_conversations{state=\"accepted\"}"].as_f64();
        let entry = json!({
            "restart": restart,
            "ready_s": round(ready.as_secs_f64(), 3),
            "spawn_to_ready_s": round(spawned.elapsed().as_secs_f64(), 3),
            "rss_mib": round(rss as f64 / 1048576.0, 1),
            "peak_rss_mib": round(peak as f64 / 1048576.0, 1),
            "accepted_conversations": accepted_gauge,
            "api_sample_accepted": format!("{sample}/{}", API_SAMPLE.min(history.open)),
            "metrics": gauges,
            "log_since_spawn": log_since(&log, log_from, spawned_at),
        });
        println!("history {target} restart {restart}: {entry}");
        restarts.push(entry);
        server.kill()?;
    }
    let store = inspect_store(&db)
        .await
        .unwrap_or_else(|e| json!({"error": format!("{e:#}")}));
    let snapshot_lines = std::fs::read_to_string(&log)
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("snapshot written"))
                .count()
        })
        .unwrap_or(0);
    let restart_s: Vec<f64> = restarts
        .iter()
        .filter_map(|r| r["ready_s"].as_f64())
        .collect();
    let rss: Vec<f64> = restarts
        .iter()
        .filter_map(|r| r["rss_mib"].as_f64())
        .collect();
    let live_ok = restarts.iter().all(|r| {
        r["accepted_conversations"].as_f64() == Some(history.open as f64)
            && r["api_sample_accepted"]
                == json!(format!(
                    "{}/{}",
                    API_SAMPLE.min(history.open),
                    API_SAMPLE.min(history.open)
                ))
    });
    let archived = store["openline_conversation_rows"].as_i64().unwrap_or(0);
    let archive_bytes = disk_bytes_of(&store, |name| name.contains("conversation"));
    let log_rows = store["openline_command_log_rows"].as_i64().unwrap_or(0);
    let log_bytes = disk_bytes_of(&store, |name| name.contains("command_log"));
    Ok(json!({
        "records_target": target,
        "records_accepted": accepted,
        "first_start_s": round(first_ready.as_secs_f64(), 3),
        "setup_s": round(setup_s, 1),
        "generate": generate,
        "before_kill": before_kill,
        "store_after_kill": after_kill,
        "restarts": restarts,
        "restart_s": spread(&restart_s, 3),
        "rss_mib": spread(&rss, 1),
        "live_ok": live_ok,
        "store": store,
        "store_at_end": store_files(&db),
        "archive_bytes_per_conversation": archive_bytes
            .filter(|_| archived > 0)
            .map(|b| round(b as f64 / archived as f64, 1)),
        "log_bytes_per_record": log_bytes
            .filter(|_| log_rows > 0)
            .map(|b| round(b as f64 / log_rows as f64, 1)),
        "snapshots_logged": snapshot_lines,
        "server_log": log.display().to_string(),
    }))
}

/// One request of the paced load: when it was scheduled (µs since 1970) and its latency
/// from then (µs).
type Sample = (u64, u32);

/// A snapshot as the server logged it.
#[derive(Debug, Clone, Default)]
struct LoggedSnapshot {
    /// When the line was logged (after the write and the compaction), µs since 1970.
    at_us: u64,
    fields: BTreeMap<String, f64>,
}

/// The "snapshot written" lines of a server log (tracing's default format: an RFC 3339
/// instant first, then the message and `key=value` fields).
fn logged_snapshots(log: &Path) -> Vec<LoggedSnapshot> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains("snapshot written"))
        .filter_map(|line| {
            let first = line.split_whitespace().next()?;
            let at = chrono::DateTime::parse_from_rfc3339(first).ok()?;
            let fields = line
                .split_whitespace()
                .filter_map(|token| {
                    let (key, value) = token.split_once('=')?;
                    Some((key.to_owned(), value.parse::<f64>().ok()?))
                })
                .collect();
            Some(LoggedSnapshot {
                at_us: u64::try_from(at.timestamp_micros()).ok()?,
                fields,
            })
        })
        .collect()
}

/// Margin before a snapshot's known durations (pause + serialize + write) for what the log
/// does not time: waiting for the commands before it to be durable, and the compaction.
const SNAPSHOT_MARGIN_US: u64 = 50_000;

/// Latencies of the requests whose [scheduled, answered] interval overlaps a snapshot
/// (from `logged − pause − serialize − write − margin` to `logged`) and of the others.
fn during_and_outside(samples: &[Sample], snapshots: &[LoggedSnapshot]) -> (Vec<u32>, Vec<u32>) {
    let windows: Vec<(u64, u64)> = snapshots
        .iter()
        .map(|s| {
            let ms = |key: &str| s.fields.get(key).copied().unwrap_or(0.0);
            let known = (ms("pause_ms") + ms("serialize_ms") + ms("write_ms")) * 1000.0;
            let start = s.at_us.saturating_sub(known as u64 + SNAPSHOT_MARGIN_US);
            (start, s.at_us)
        })
        .collect();
    let mut during = Vec::new();
    let mut outside = Vec::new();
    for &(start, latency) in samples {
        let end = start + u64::from(latency);
        if windows.iter().any(|&(from, to)| start <= to && end >= from) {
            during.push(latency);
        } else {
            outside.push(latency);
        }
    }
    during.sort_unstable();
    outside.sort_unstable();
    (during, outside)
}

/// p50/p99/p99.9/max of sorted µs latencies, and how many.
fn latency_summary(sorted: &[u32]) -> Value {
    json!({
        "requests": sorted.len(),
        "p50_ms": percentile(sorted, 0.5),
        "p99_ms": percentile(sorted, 0.99),
        "p999_ms": percentile(sorted, 0.999),
        "max_ms": percentile(sorted, 1.0),
    })
}

/// The paced load: `concurrency` connections, `rate` requests/s in all, each request
/// scheduled (no coordinated omission), life cycles and heartbeats as in the history.
async fn paced_load(
    addr: SocketAddr,
    pause: &PauseOptions,
    tag: &str,
) -> (Vec<Sample>, Tally, Duration) {
    let workers = pause.concurrency.max(1);
    let period = Duration::from_secs_f64(workers as f64 / pause.rate.max(1.0));
    let started = Instant::now();
    let wall = unix_micros();
    let deadline = started + pause.duration;
    let (agents, share) = (pause.agents, pause.conversation_share);
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut tally = Tally::default();
                let mut samples: Vec<Sample> = Vec::new();
                let mut mix = Mix::default();
                let mut scheduled = started + period.mul_f64(worker as f64 / workers as f64);
                while scheduled < deadline {
                    tokio::time::sleep_until(scheduled.into()).await;
                    let ok = if let Some((id, mut offered, step)) = mix.current.take() {
                        let (ok, go_on) =
                            lifecycle_step(&mut conn, &mut tally, &id, &mut offered, step).await;
                        if go_on {
                            mix.current = Some((id, offered, step + 1));
                        }
                        ok
                    } else if mix.lifecycle_next(share) {
                        let id = format!("{tag}-{worker}-{}", mix.lifecycles);
                        mix.lifecycles += 1;
                        mix.lifecycle_records += LIFECYCLE_RECORDS;
                        let mut offered = None;
                        let (ok, go_on) =
                            lifecycle_step(&mut conn, &mut tally, &id, &mut offered, 0).await;
                        if go_on {
                            mix.current = Some((id, offered, 1));
                        }
                        ok
                    } else {
                        mix.heartbeat_records += 1;
                        let body = mix.heartbeat(worker, workers, agents);
                        let path = "/v1/signals";
                        conn.call(&mut tally, Method::POST, path, json_body(&body), &[])
                            .await
                            .is_some()
                    };
                    let latency =
                        u32::try_from(scheduled.elapsed().as_micros()).unwrap_or(u32::MAX);
                    if ok {
                        let offset = scheduled.duration_since(started).as_micros() as u64;
                        samples.push((wall + offset, latency));
                    }
                    scheduled += period;
                }
                (samples, tally)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok((mine, tally)) => {
                samples.extend(mine);
                total.merge(tally);
            }
            Err(error) => total.error(format!("worker failed: {error}")),
        }
    }
    (samples, total, started.elapsed())
}

/// `loadgen snapshot-pause`: one JSON line per phase, and a summary line last.
pub async fn run_pause(options: &Options, pause: &PauseOptions) -> anyhow::Result<()> {
    let _ = options;
    let mut phases = Map::new();
    for phase in &pause.phases {
        let mut args = pause.server.clone();
        match phase.as_str() {
            "none" => {
                args.snapshot_records = Some(1_000_000_000_000);
                args.snapshot_interval = Some("1h".into());
            }
            "frequent" => args.snapshot_records = Some(pause.frequent_records),
            "baseline" => {
                args.snapshot_records = None;
                args.snapshot_interval = None;
            }
            other => anyhow::bail!("unknown phase `{other}` (none, frequent, baseline)"),
        }
        let env = server_env(&args);
        let dir = ScratchDir::new(&format!("pause-{phase}"))?;
        let db = dir.0.join("openline.db");
        let log = dir.0.join("server.log");
        let (server, _) = start(&args, &env, &db, &log).await?;
        live_state(server.addr, pause.agents, pause.open, pause.concurrency).await?;
        let snapshots_before = logged_snapshots(&log).len();
        let (samples, tally, elapsed) = paced_load(server.addr, pause, phase).await;
        let gauges = metrics(server.addr, &WATCHED).await?;
        let rss = server.rss().map(|b| round(b as f64 / 1048576.0, 1));
        server.stop()?;
        let snapshots: Vec<LoggedSnapshot> = logged_snapshots(&log)
            .into_iter()
            .skip(snapshots_before)
            .collect();
        let mut all: Vec<u32> = samples.iter().map(|s| s.1).collect();
        all.sort_unstable();
        let (during, outside) = during_and_outside(&samples, &snapshots);
        let field = |key: &str| -> Vec<f64> {
            snapshots
                .iter()
                .filter_map(|s| s.fields.get(key).copied())
                .collect()
        };
        let result = json!({
            "phase": phase,
            "seconds": round(elapsed.as_secs_f64(), 2),
            "requests_per_sec": round(all.len() as f64 / elapsed.as_secs_f64(), 0),
            "errors": tally.errors,
            "conflicts": tally.conflicts,
            "error_samples": tally.samples,
            "all": latency_summary(&all),
            "during_snapshot": latency_summary(&during),
            "outside_snapshot": latency_summary(&outside),
            "snapshots": snapshots.len(),
            "pause_ms": spread(&field("pause_ms"), 2),
            "serialize_ms": spread(&field("serialize_ms"), 1),
            "write_ms": spread(&field("write_ms"), 1),
            "bytes": spread(&field("bytes"), 0),
            "compacted": spread(&field("compacted"), 0),
            "each": snapshots.iter().map(|s| json!(s.fields)).collect::<Vec<_>>(),
            "rss_mib": rss,
            "metrics": gauges,
        });
        println!("snapshot-pause {phase}: {result}");
        phases.insert(phase.clone(), result);
    }
    let line = json!({
        "mode": "snapshot-pause",
        "server_bin": pause.server.server_bin,
        "rate": pause.rate,
        "concurrency": pause.concurrency,
        "duration_s": pause.duration.as_secs_f64(),
        "frequent_records": pause.frequent_records,
        "phases": phases,
    });
    println!("{line}");
    Ok(())
}
