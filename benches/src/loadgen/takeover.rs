//! `loadgen takeover` (SPEC R23b, issue #11): how fast a hot standby takes over, whatever the
//! history. On one store (a fresh SQLite file, or a fresh PostgreSQL database with
//! `--store postgres`):
//!
//! 1. an active server gets the live state of `loadgen history` (`--agents`, `--open`) and
//!    `--records` records of history;
//! 2. a standby starts on the same store and says it follows the log;
//! 3. each round, `--tail` more records are written to the active server (the standby reads
//!    them as they commit), the active server is killed (SIGKILL), and the clock runs from
//!    the kill until the standby answers `/readyz` 200 and until it acknowledges a first
//!    write; the live state is checked on it; the killed server comes back as the standby;
//! 4. last, both are killed and one server is started cold on the same store: the restart
//!    time a takeover without a standby would cost, in the same run.
//!
//! The last line of output is one JSON object.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use super::client::{Conn, json_body};
use super::history::{
    ServerArgs, live_sample_accepted, live_state, server_env, spread, write_history,
};
use super::pg::PgDatabase;
use super::server::{ScratchDir, ServerProcess};
use super::stats::round;

/// `loadgen takeover` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TakeoverOptions {
    /// Agents of the live state.
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Open (accepted) conversations of the live state.
    #[arg(long, default_value_t = 10_000)]
    pub open: usize,
    /// Records of history written before the standby starts.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Records written to the active server in each round, while the standby follows.
    #[arg(long, default_value_t = 5_000)]
    pub tail: u64,
    /// Takeovers measured (each kills the active server of the pair).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Connections writing history.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// `sqlite` (a scratch file) or `postgres` (a fresh database on `--pg-url`).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// The PostgreSQL server for `--store postgres`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
    /// The server under test.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What the standby logs once it follows the log.
const FOLLOWING: &str = "standby following the log";

/// Runs the measurement and prints its JSON line.
pub async fn run(options: &TakeoverOptions) -> anyhow::Result<()> {
    let dir = ScratchDir::new("takeover")?;
    let pg = match options.store.as_str() {
        "sqlite" => None,
        "postgres" => Some(PgDatabase::create(&options.pg_url, "takeover").await?),
        other => anyhow::bail!("unknown store `{other}` (sqlite, postgres)"),
    };
    let url = pg
        .as_ref()
        .map_or_else(|| dir.sqlite_url("openline.db"), |db| db.url.clone());
    let outcome = measure(options, &dir.0, &url).await;
    if let Some(db) = pg {
        db.drop_database().await?;
    }
    let line = outcome?;
    println!("{line}");
    Ok(())
}

/// A server of the pair: its process and its log file.
struct Member {
    process: ServerProcess,
    log: PathBuf,
}

impl Member {
    /// Starts a server on `url` logging to `log` (appending).
    fn spawn(
        options: &TakeoverOptions,
        env: &[(&'static str, String)],
        url: &str,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let process =
            ServerProcess::spawn_with(options.server.server_bin.as_deref(), url, &env, Some(&log))?;
        Ok(Self { process, log })
    }

    /// Starts a standby and waits until it follows the log; how long that took.
    async fn standby(
        options: &TakeoverOptions,
        env: &[(&'static str, String)],
        url: &str,
        log: PathBuf,
    ) -> anyhow::Result<(Self, Duration)> {
        let before = occurrences(&log, FOLLOWING);
        let started = Instant::now();
        let member = Self::spawn(options, env, url, log)?;
        while occurrences(&member.log, FOLLOWING) == before {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(1800),
                "the standby did not follow the log within 30 min"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((member, started.elapsed()))
    }
}

fn occurrences(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| text.matches(needle).count())
}

async fn measure(options: &TakeoverOptions, dir: &Path, url: &str) -> anyhow::Result<Value> {
    let mut env = server_env(&options.server);
    for (name, value) in &mut env {
        if *name == "RUST_LOG" {
            value.push_str(",openline_server::runtime::follow=info");
        }
    }
    let logs = [dir.join("first.log"), dir.join("second.log")];
    let mut active = Member::spawn(options, &env, url, logs[0].clone())?;
    active.process.wait_ready(Duration::from_secs(1800)).await?;
    live_state(
        active.process.addr,
        options.agents,
        options.open,
        options.concurrency,
    )
    .await?;
    let (history, accepted) = write_history(
        active.process.addr,
        options.agents,
        options.records,
        0.5,
        options.concurrency,
    )
    .await;
    println!("takeover: history {history}");
    let (mut standby, first_follow) = Member::standby(options, &env, url, logs[1].clone()).await?;
    println!(
        "takeover: the standby follows the log {:.2} s after its start",
        first_follow.as_secs_f64()
    );
    let mut rounds = Vec::new();
    for round_index in 0..options.rounds.max(1) {
        let (tail, _) = write_history(
            active.process.addr,
            options.agents,
            options.tail,
            0.5,
            options.concurrency,
        )
        .await;
        let killed = Instant::now();
        active.process.kill()?;
        standby.process.wait_ready(Duration::from_secs(600)).await?;
        let ready = killed.elapsed();
        let mut conn = Conn::new(standby.process.addr);
        let reply = conn
            .send(
                Method::PUT,
                &format!("/v1/agents/takeover-{round_index}"),
                json_body(&json!({"name": "After the takeover"})),
            )
            .await?;
        let first_write = killed.elapsed();
        anyhow::ensure!(
            reply.status == 201,
            "the first write got HTTP {}",
            reply.status
        );
        let sample = live_sample_accepted(standby.process.addr, options.open).await;
        let entry = json!({
            "round": round_index,
            "tail": tail,
            "kill_to_ready_s": round(ready.as_secs_f64(), 3),
            "kill_to_first_write_s": round(first_write.as_secs_f64(), 3),
            "rss_mib": standby.process.rss().map(|b| round(b as f64 / 1048576.0, 1)),
            "live_sample_accepted": sample,
        });
        println!("takeover round {round_index}: {entry}");
        rounds.push(entry);
        let log = active.log.clone();
        active = standby;
        standby = Member::standby(options, &env, url, log).await?.0;
    }
    active.process.kill()?;
    standby.process.kill()?;
    let cold = Member::spawn(options, &env, url, dir.join("cold.log"))?;
    let mut cold = cold;
    let cold_ready = cold.process.wait_ready(Duration::from_secs(1800)).await?;
    cold.process.kill()?;
    let of = |key: &str| -> Vec<f64> { rounds.iter().filter_map(|r| r[key].as_f64()).collect() };
    Ok(json!({
        "mode": "takeover",
        "store": options.store,
        "agents": options.agents,
        "open": options.open,
        "records": accepted,
        "tail_per_round": options.tail,
        "standby_follows_after_start_s": round(first_follow.as_secs_f64(), 2),
        "kill_to_ready_s": spread(&of("kill_to_ready_s"), 3),
        "kill_to_first_write_s": spread(&of("kill_to_first_write_s"), 3),
        "cold_restart_s": round(cold_ready.as_secs_f64(), 3),
        "rounds": rounds,
    }))
}
