//! `loadgen`: drives a real openline server over HTTP on loopback with bounded concurrency
//! for a bounded time, per store (SQLite, PostgreSQL), and measures two ceilings on the same
//! machine (the no-op endpoint of the same HTTP stack; the store's raw group-commit rate).
//! Its last line of output is one JSON object. See benches/README.md.

pub mod ceiling;
pub mod client;
pub mod history;
pub mod options;
pub mod pg;
pub mod probe;
pub mod scale;
pub mod scenarios;
pub mod server;
pub mod stats;
pub mod takeover;
pub mod webhook;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser as _;
use serde_json::{Map, Value, json};

use options::{Cmd, Options};
use scenarios::{Load, Role};
use server::{SERVE_INTERNAL, ScratchDir, ServerProcess};
use stats::round;

/// The entry point: `loadgen serve-internal …` runs the real server (`openline …`);
/// anything else is the load generator.
pub fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|arg| arg == SERVE_INTERNAL) {
        let rest = std::env::args_os().skip(2);
        return openline_server::cli::main_from(std::iter::once("openline".into()).chain(rest));
    }
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads.max(1))
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(runtime) => match options.command.clone() {
            Some(Cmd::Scale(scale)) => runtime.block_on(scale::run(&options, &scale)),
            Some(Cmd::History(history)) => {
                runtime.block_on(history::run_history(&options, &history))
            }
            Some(Cmd::SnapshotPause(pause)) => {
                runtime.block_on(history::run_pause(&options, &pause))
            }
            Some(Cmd::Takeover(takeover)) => runtime.block_on(takeover::run(&takeover)),
            None => runtime.block_on(run(&options)),
        },
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Environment for the server under test: presence timeouts long enough that no agent goes
/// offline by itself during a run (only the flapping agents change availability).
pub const SERVER_ENV: [(&str, &str); 3] = [
    ("OPENLINE__PLUGINS__MESSENGER__HEARTBEAT_TIMEOUT", "1h"),
    ("OPENLINE__PLUGINS__MOBILE__HEARTBEAT_TIMEOUT", "1h"),
    ("OPENLINE__PLUGINS__MOBILE__BACKGROUND_GRACE", "1h"),
];

/// [`SERVER_ENV`], and with `--auth token` a rate limit far above what the load sends: one
/// token carries the whole load, and the figure is the cost of checking it, not the limit.
fn server_env(options: &Options) -> Vec<(&'static str, &'static str)> {
    let mut env = SERVER_ENV.to_vec();
    if options.auth == "token" {
        env.push(("OPENLINE__AUTH__RATE_LIMIT_PER_SECOND", "100000000"));
    }
    env
}

async fn run(options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "loadgen: {} per phase, {} connections, {} agents, {} signals per batch, {} client thread(s), {} CPU(s) shared with the server",
        humanize(options.duration),
        options.concurrency,
        options.agents,
        options.batch,
        options.client_threads,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let mut results = Map::new();
    let mut errors = 0u64;
    if let Some(target) = &options.target {
        anyhow::ensure!(
            !options.webhook,
            "--webhook needs a server started by loadgen on a fresh store, not --target"
        );
        let addr = options::loopback(target)?;
        let result = drive(options, addr, None, "target").await?;
        errors += result["errors"].as_u64().unwrap_or(0);
        results.insert("target".into(), result);
    } else {
        for store in &options.stores {
            let result = match store.as_str() {
                "sqlite" => run_sqlite(options).await,
                "postgres" => run_postgres(options).await,
                other => Err(anyhow::anyhow!(
                    "unknown store `{other}` (sqlite, postgres)"
                )),
            };
            match result {
                Ok(result) => {
                    errors += result["errors"].as_u64().unwrap_or(0);
                    results.insert(store.clone(), result);
                }
                Err(error) => {
                    println!("{store}: skipped: {error:#}");
                    results.insert(store.clone(), json!({"skipped": format!("{error:#}")}));
                }
            }
        }
    }
    // The headline figures: the first store run (in `--stores` order), or the target.
    let order = options.target.iter().map(|_| "target".to_owned());
    let (first_name, first) = order
        .chain(options.stores.iter().cloned())
        .filter_map(|name| Some((name.clone(), results.get(&name)?.clone())))
        .find(|(_, r)| r.get("skipped").is_none())
        .unwrap_or_default();
    let line = json!({
        "conversations_per_sec": first["routing"]["conversations_per_sec"],
        "lifecycle_conversations_per_sec": first["conversations"]["conversations_per_sec"],
        "signals_per_sec": first["signals"]["signals_per_sec"],
        "p99_ms": first["routing"]["p99_ms"],
        "signal_p99_ms": first["mix"]["signal_batch_p99_ms"],
        "requeue_p99_ms": first["mix"]["requeue_p99_ms"],
        "webhook_deliveries_per_sec": first["webhook"]["deliveries_per_sec_overall"],
        "webhook_lag_p99_ms": first["webhook"]["lag_p99_ms"],
        "noop_ratio": first["noop_ratio"],
        "store_ratio": first["store_ratio"],
        "errors": errors,
        "peak_rss_mib": first["peak_rss_mib"],
        "store": first_name,
        "duration_per_phase_s": options.duration.as_secs_f64(),
        "concurrency": options.concurrency,
        "agents": options.agents,
        "batch": options.batch,
        "wall_s": round(started.elapsed().as_secs_f64(), 1),
        "stores": results,
    });
    println!("{line}");
    Ok(())
}

async fn run_sqlite(options: &Options) -> anyhow::Result<Value> {
    let dir = ScratchDir::new("sqlite")?;
    let url = dir.sqlite_url("openline.db");
    let mut server = spawn(options, &url)?;
    let result = drive_started(options, &mut server).await;
    server.stop()?;
    let mut result = result?;
    result["store_bytes"] = json!(dir.size());
    let ceiling_url = dir.sqlite_url("ceiling.db");
    finish_with_ceiling(options, result, &ceiling_url, "sqlite").await
}

async fn run_postgres(options: &Options) -> anyhow::Result<Value> {
    let db = pg::PgDatabase::create(&options.pg_url, "run").await?;
    let mut server = spawn(options, &db.url)?;
    let result = drive_started(options, &mut server).await;
    server.stop()?;
    db.drop_database().await?;
    let result = result?;
    let ceiling = pg::PgDatabase::create(&options.pg_url, "ceiling").await?;
    let outcome = finish_with_ceiling(options, result, &ceiling.url, "postgres").await;
    ceiling.drop_database().await?;
    outcome
}

/// The server under test on `url`: `--server-bin`, or this binary's own server.
fn spawn(options: &Options, url: &str) -> anyhow::Result<ServerProcess> {
    ServerProcess::spawn_with(
        options.server_bin.as_deref(),
        url,
        &server_env(options),
        None,
    )
}

async fn drive_started(options: &Options, server: &mut ServerProcess) -> anyhow::Result<Value> {
    let ready = server.wait_ready(Duration::from_secs(120)).await?;
    match options.auth.as_str() {
        "local" => {}
        "token" => {
            let created = client::Conn::new(server.addr)
                .ok(
                    hyper::Method::POST,
                    "/v1/tokens",
                    &json!({"name": "loadgen", "role": "admin"}),
                )
                .await?;
            let body: Value = serde_json::from_slice(&created.body)?;
            let token = body["token"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no token in {body}"))?;
            client::Conn::use_token(token.to_owned());
        }
        other => anyhow::bail!("unknown --auth `{other}` (local, token)"),
    }
    let mut result = drive(options, server.addr, Some(&*server), "run").await?;
    result["startup_ms"] = json!(ready.as_millis());
    Ok(result)
}

async fn finish_with_ceiling(
    options: &Options,
    mut result: Value,
    url: &str,
    label: &str,
) -> anyhow::Result<Value> {
    if options.skip_store_ceiling {
        return Ok(result);
    }
    let ceiling = ceiling::store_ceiling(
        url,
        options.concurrency,
        options.duration,
        options.ceiling_events,
        !options.ceiling_events_unstored,
    )
    .await?;
    println!("{label} store ceiling (in-process group commit): {ceiling}");
    let ours = result["routing"]["requests_per_sec"].as_f64();
    let raw = ceiling["records_per_sec"].as_f64();
    if let (Some(ours), Some(raw)) = (ours, raw) {
        result["store_ratio"] = json!(round(ours / raw.max(1e-9), 3));
    }
    result["errors"] =
        json!(result["errors"].as_u64().unwrap_or(0) + ceiling["errors"].as_u64().unwrap_or(0));
    result["store_ceiling"] = ceiling;
    Ok(result)
}

/// Sets the fixture up on `addr`, then runs the phases: no-op, conversations, signals, mix,
/// routing; with `--webhook`, subscribes a local receiver first and waits for its deliveries
/// after.
async fn drive(
    options: &Options,
    addr: SocketAddr,
    server: Option<&ServerProcess>,
    label: &str,
) -> anyhow::Result<Value> {
    let setup_started = Instant::now();
    scenarios::setup(addr, options.agents, options.concurrency).await?;
    let mut result = json!({"setup_ms": setup_started.elapsed().as_millis()});
    let load = Load {
        addr,
        agents: options.agents,
        batch: options.batch,
        workers: options.concurrency,
        signal_rate: options.signal_rate,
        paced_workers: 0,
        conversation_rate: None,
        conversation_workers: 0,
    };
    let c = options.concurrency.max(1);
    let signal_workers = options.signal_concurrency.unwrap_or(c).max(1);
    let paced = options.paced_connections.clamp(1, c);
    // The mix: paced signals, conversations, and the signal→requeue probe on its own
    // connection.
    let mix: Vec<Role> = (0..c)
        .map(|i| {
            if i < paced {
                Role::PacedSignals
            } else {
                Role::Conversation
            }
        })
        .chain([Role::Probe])
        .collect();
    // `routing` last: it leaves its conversations open (offered), which would weigh on the
    // phases after it.
    let phases: [(&str, Vec<Role>); 5] = [
        ("noop", vec![Role::Noop; c]),
        ("conversations", vec![Role::Conversation; c]),
        ("signals", vec![Role::Signals; signal_workers]),
        ("mix", mix),
        ("routing", vec![Role::Route; c]),
    ];
    let hook = if options.webhook {
        Some(webhook::Hook::subscribe(addr).await?)
    } else {
        None
    };
    let load_started = Instant::now();
    let mut errors = 0;
    for (name, roles) in phases {
        if !options.phases.iter().any(|p| p == name) {
            continue;
        }
        let tag = format!("{label}-{name}");
        let cpu_before = server.and_then(ServerProcess::cpu_seconds);
        let load = Load {
            conversation_rate: options
                .conversation_rate
                .filter(|_| matches!(name, "mix" | "routing")),
            ..load
        };
        let (tally, elapsed) = scenarios::phase(&roles, load, &tag, options.duration).await;
        let mut summary = tally.summary(elapsed);
        let cpu_after = server.and_then(ServerProcess::cpu_seconds);
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            let cpu = after - before;
            let requests = summary["requests"].as_f64().unwrap_or(0.0).max(1.0);
            summary["server_cpu_cores"] = json!(round(cpu / elapsed.as_secs_f64(), 2));
            summary["server_cpu_us_per_request"] = json!(round(cpu * 1e6 / requests, 1));
        }
        errors += summary["errors"].as_u64().unwrap_or(0);
        println!("{label} {name}: {summary}");
        result[name] = summary;
    }
    if let Some(hook) = hook {
        let figures = hook.finish(addr, (load_started, Instant::now())).await;
        println!("{label} webhook: {figures}");
        result["webhook"] = figures;
    }
    if let Some(noop) = result["noop"]["requests_per_sec"].as_f64() {
        for name in ["routing", "conversations", "signals", "mix"] {
            if let Some(ours) = result[name]["requests_per_sec"].as_f64() {
                result[name]["noop_ratio"] = json!(round(ours / noop.max(1e-9), 3));
            }
        }
        result["noop_ratio"] = result["routing"]["noop_ratio"].clone();
    }
    if let Some(server) = server {
        result["peak_rss_mib"] = json!(server.peak_rss().map(|b| round(b as f64 / 1048576.0, 1)));
        result["server_pid"] = json!(server.pid());
    }
    result["errors"] = json!(errors);
    Ok(result)
}

/// `10s`, `1.5s`, `250ms`.
pub fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}
