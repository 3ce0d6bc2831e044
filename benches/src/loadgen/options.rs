//! The command line of `loadgen`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Load generator for openline: starts (or targets) a server on loopback and drives it over
/// HTTP; the last line of output is one JSON object.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "loadgen")]
pub struct Options {
    /// Length of each phase (no-op, conversations, signals, mix, store ceiling): `10s`, `500ms`, `1m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Drive a running server instead (`http://127.0.0.1:PORT`; loopback only). Its RSS and
    /// the store ceiling are not measured then.
    #[arg(long)]
    pub target: Option<String>,
    /// Stores to start a server on, in order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub stores: Vec<String>,
    /// PostgreSQL server (a fresh database is created on it per run and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// Phases to run (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "noop,routing,conversations,signals,mix"
    )]
    pub phases: Vec<String>,
    /// Skip the in-process store ceiling.
    #[arg(long)]
    pub skip_store_ceiling: bool,
    /// Store ceiling: engine events submitted with each record (2 = what a routed
    /// conversation publishes), numbered and stored with it (SPEC R29).
    #[arg(long, default_value_t = 0)]
    pub ceiling_events: usize,
    /// Store ceiling: number and serialize the `--ceiling-events` and move the event counter,
    /// but do not write their rows.
    #[arg(long)]
    pub ceiling_events_unstored: bool,
    /// `local`: no credential (the server's local mode); `token`: an API token is created
    /// through the admin API right after start and presented on every request (SPEC R25: each
    /// request then looks the token up in the store).
    #[arg(long, default_value = "local")]
    pub auth: String,
    /// Run this server binary (`PATH serve`) instead of this binary's own server, e.g. the
    /// `openline` built from an older commit in its own worktree and target dir.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Webhooks (SPEC R30): a local receiver in this process and one subscription to every
    /// event type, created before the phases; after them, wait until every event committed
    /// by then has arrived, and report deliveries/s and the delivery lag (receive time minus
    /// the event's `at`). Needs a server started by loadgen (not `--target`).
    #[arg(long)]
    pub webhook: bool,
    /// Agents in the fixture (all in the channel's queue).
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Concurrent connections (one request in flight on each).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Connections of the signals phase (default: --concurrency).
    #[arg(long)]
    pub signal_concurrency: Option<usize>,
    /// Signals per `POST /v1/signals` batch.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Mix phase: signals per second sent (open loop) beside conversations at full speed.
    #[arg(long, default_value_t = 100_000.0)]
    pub signal_rate: f64,
    /// Mix phase: connections carrying the paced signals (the rest carry conversations).
    #[arg(long, default_value_t = 8)]
    pub paced_connections: usize,
    /// Mix phase: conversation life cycles per second of all conversation connections
    /// together (open loop); routing phase: new conversations per second of all its
    /// connections. Without it each connection runs flat out.
    #[arg(long)]
    pub conversation_rate: Option<f64>,
    /// Threads of the load generator's own async runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Subcommand (none = the load run).
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Other runs.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// Load many agents and open conversations, then measure RSS and a restart's rebuild.
    Scale(super::scale::ScaleOptions),
    /// Live state, then N records of history; restart time, RSS and store size after a crash
    /// (SPEC R21: bounded by what is live, not by history).
    History(super::history::HistoryOptions),
    /// Live state and a steady paced load, without snapshots and with frequent ones: request
    /// latencies during a snapshot vs. outside, and each snapshot's pause, write and size.
    SnapshotPause(super::history::PauseOptions),
    /// Live state and N records of history on an active server with a hot standby; the
    /// standby's takeover after SIGKILL of the active one, beside a cold restart (SPEC R23b).
    Takeover(super::takeover::TakeoverOptions),
}

/// `10s`, `250ms`, `1m`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((text, "s"), |i| text.split_at(i));
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 10s, 500ms or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` (ms, s, m)")),
    };
    if !(0.0..=3600.0).contains(&seconds) {
        return Err("a duration must be between 0 and 1 hour".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The socket address of a loopback `http://127.0.0.1:PORT` URL (anything else is refused).
pub fn loopback(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = authority
        .parse()
        .map_err(|e| anyhow::anyhow!("--target `{url}`: {e}"))?;
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "--target must be a loopback address"
    );
    Ok(addr)
}
