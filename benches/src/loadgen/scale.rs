//! The scale run: a command log with `--agents` agents (in one channel's queue, clocked in
//! and with a messenger session) and `--conversations` open conversations (arrived with a
//! message and offered), written straight into a fresh store through the server's own store
//! code; then the real server is started on it twice: each start replays the log (R19), so
//! its start-up time *is* the restart time, and its RSS is that of the state.

use std::time::{Duration, Instant};

use openline_core::{AgentProfile, ChannelSettings, Command, Signal};
use openline_server::store::{Record, Store};
use serde_json::{Map, Value, json};

use super::options::Options;
use super::server::{ScratchDir, ServerProcess};
use super::stats::round;
use super::{SERVER_ENV, pg};

/// `loadgen scale` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleOptions {
    /// Agents.
    #[arg(long, default_value_t = 100_000)]
    pub agents: usize,
    /// Open conversations.
    #[arg(long, default_value_t = 1_000_000)]
    pub conversations: usize,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Restarts to time.
    #[arg(long, default_value_t = 2)]
    pub restarts: usize,
}

const RECORDS_PER_TX: usize = 10_000;
const SIGNALS_PER_RECORD: usize = 1_000;

fn commands(scale: &ScaleOptions) -> impl Iterator<Item = Command> + '_ {
    let agent = super::scenarios::agent;
    let channel = Command::PutChannel {
        id: crate::id("web"),
        settings: crate::real::website_chat(
            "evenly",
            (0..scale.agents).map(|i| crate::id(&agent(i))).collect(),
            ChannelSettings::MAX_OFFER_TIMEOUT,
        ),
    };
    let agents = (0..scale.agents).map(move |i| Command::PutAgent {
        id: crate::id(&agent(i)),
        profile: AgentProfile {
            name: format!("Agent {i}"),
            groups: vec!["support".into()],
            timezone: None,
        },
    });
    let signals = (0..scale.agents)
        .step_by(SIGNALS_PER_RECORD / 2)
        .map(move |first| {
            let last = (first + SIGNALS_PER_RECORD / 2).min(scale.agents);
            let signals = (first..last)
                .flat_map(|i| {
                    ["timesheet:clock_in", "messenger:open"].map(|pair| {
                        let (source, event) = pair.split_once(':').unwrap_or((pair, pair));
                        (i, source, event)
                    })
                })
                .map(|(i, source, event)| Signal {
                    agent: crate::id(&agent(i)),
                    source: source.into(),
                    event: event.into(),
                    at: chrono::DateTime::<chrono::Utc>::MIN_UTC, // set when logged
                    fields: Map::new(),
                })
                .collect();
            Command::Signals { signals }
        });
    let conversations = (0..scale.conversations).map(|i| Command::OpenConversation {
        channel: crate::id("web"),
        id: crate::id(&format!("c-{i:07}")),
        customer: format!("customer-{i}"),
        with_message: true,
    });
    std::iter::once(channel)
        .chain(agents)
        .chain(signals)
        .chain(conversations)
}

/// Writes the log; returns the record count.
async fn write_log(url: &str, scale: &ScaleOptions) -> anyhow::Result<usize> {
    let store = Store::connect(url).await?;
    let epoch = store.claim().await?;
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(600);
    let mut seq = store.last_seq().await? + 1;
    let mut batch = Vec::with_capacity(RECORDS_PER_TX);
    let mut count = 0usize;
    for mut command in commands(scale) {
        // One microsecond apart, all in the past: replay applies each at its own instant.
        let at = start + chrono::TimeDelta::microseconds(count as i64);
        if let Command::Signals { signals } = &mut command {
            for signal in signals {
                signal.at = at;
            }
        }
        batch.push(Record::Command {
            at,
            json: serde_json::to_string(&command)?,
            by: None,
        });
        count += 1;
        if batch.len() == RECORDS_PER_TX {
            seq = store.write(epoch, seq, &batch, false).await?;
            batch.clear();
        }
    }
    store.write(epoch, seq, &batch, false).await?;
    store.close().await;
    Ok(count)
}

/// Reads `openline_conversations{state="…"}` and `openline_agents` from `/metrics`.
async fn gauges(server: &ServerProcess) -> anyhow::Result<Value> {
    let mut conn = super::client::Conn::new(server.addr);
    let reply = conn.send(hyper::Method::GET, "/metrics", None).await?;
    let text = String::from_utf8_lossy(&reply.body);
    let mut out = Map::new();
    for line in text.lines() {
        let wanted =
            line.starts_with("openline_conversations{") || line.starts_with("openline_agents ");
        if wanted && let Some((name, value)) = line.rsplit_once(' ') {
            out.insert(name.into(), json!(value.parse::<f64>().unwrap_or(f64::NAN)));
        }
    }
    Ok(Value::Object(out))
}

/// The scale run; prints one JSON line last.
pub async fn run(_options: &Options, scale: &ScaleOptions) -> anyhow::Result<()> {
    let dir = ScratchDir::new("scale")?;
    let pg_db = match scale.store.as_str() {
        "sqlite" => None,
        "postgres" => Some(pg::PgDatabase::create(&_options.pg_url, "scale").await?),
        other => anyhow::bail!("unknown store `{other}`"),
    };
    let url = pg_db
        .as_ref()
        .map_or_else(|| dir.sqlite_url("openline.db"), |db| db.url.clone());
    let written = Instant::now();
    let records = write_log(&url, scale).await?;
    let write_s = written.elapsed().as_secs_f64();
    println!(
        "scale: wrote {records} log records ({} agents, {} conversations) in {write_s:.1} s; {} MiB on disk",
        scale.agents,
        scale.conversations,
        dir.size() / 1048576
    );
    let mut starts = Vec::new();
    let mut last = Value::Null;
    for restart in 0..scale.restarts.max(1) {
        let mut server = ServerProcess::spawn(&url, &SERVER_ENV)?;
        let ready = server.wait_ready(Duration::from_secs(600)).await;
        let ready = match ready {
            Ok(ready) => ready,
            Err(error) => {
                let _ = server.stop();
                return Err(error);
            }
        };
        let scraped = Instant::now();
        let state = gauges(&server).await;
        let scrape_ms = scraped.elapsed().as_secs_f64() * 1000.0;
        let rss = server.rss().unwrap_or(0);
        let peak = server.peak_rss().unwrap_or(0);
        let stopped = Instant::now();
        server.stop()?;
        let entry = json!({
            "restart": restart,
            "rebuild_s": round(ready.as_secs_f64(), 2),
            "rss_mib": round(rss as f64 / 1048576.0, 1),
            "peak_rss_mib": round(peak as f64 / 1048576.0, 1),
            "stop_s": round(stopped.elapsed().as_secs_f64(), 2),
            "metrics_scrape_ms": round(scrape_ms, 1),
            "state": state.unwrap_or(Value::Null),
        });
        println!("scale start {restart}: {entry}");
        last = entry.clone();
        starts.push(entry);
    }
    if let Some(db) = pg_db {
        db.drop_database().await?;
    }
    let line = json!({
        "agents": scale.agents,
        "conversations": scale.conversations,
        "store": scale.store,
        "records": records,
        "log_write_s": round(write_s, 1),
        "rebuild_s": last["rebuild_s"],
        "rss_mib": last["rss_mib"],
        "peak_rss_mib": last["peak_rss_mib"],
        "starts": starts,
    });
    println!("{line}");
    Ok(())
}
