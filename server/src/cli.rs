//! The command line (API.md "Command line and configuration"): `openline serve [--config
//! FILE]`, `openline check --config FILE`, `openline plugins`, `openline token …` (`cli/token.rs`).

mod token;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::config::Settings;
use crate::http::serve::{self as http_serve, Timeouts};
use crate::http::{AppState, app};
use crate::runtime::Runtime;

/// openline: a presence-aware conversation router for customer-support open channels.
#[derive(Debug, Parser)]
#[command(name = "openline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (built-in defaults without a file).
    Serve {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file; exits non-zero with a message naming the key.
    Check {
        /// TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the registered sources and policies (with `--config`, also the file's
    /// `[[presence_sources]]`).
    Plugins {
        /// TOML configuration file whose config-defined sources to list too.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create, list and revoke API tokens in the configured store (works while a server runs
    /// on it).
    Token {
        #[command(subcommand)]
        command: token::TokenCmd,
    },
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs the command line on `args` (the first one is the program name), e.g. from a tool that
/// embeds the server (the load generator re-executes itself as `openline serve`).
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Cmd::Serve { config } => serve(config.as_deref()),
        Cmd::Check { config } => check(&config),
        Cmd::Plugins { config } => plugins(config.as_deref()),
        Cmd::Token { command } => token::main(command),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn check(path: &Path) -> ExitCode {
    let outcome = Settings::load(Some(path)).and_then(|settings| {
        let registry =
            crate::registry().map_err(|e| crate::config::ConfigError::Load(e.to_string()))?;
        settings.validate(&registry, chrono::Utc::now())
    });
    match outcome {
        Ok(warnings) => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "{}: ok{}",
                path.display(),
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(" ({} warning(s))", warnings.len())
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) if error.is_from_environment() => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn plugins(config: Option<&Path>) -> ExitCode {
    let listed = crate::registry()
        .map_err(|e| e.to_string())
        .and_then(|registry| {
            let settings = Settings::load(config).map_err(|e| e.to_string())?;
            let plugins = settings
                .build_plugins(&registry)
                .map_err(|e| e.to_string())?;
            Ok((registry, settings, plugins))
        });
    let (registry, settings, plugins) = match listed {
        Ok(listed) => listed,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::from("sources:\n");
    for info in plugins.describe_sources() {
        let summary = match registry.source(info.name) {
            Ok(descriptor) => descriptor.summary.to_owned(),
            Err(_) => settings
                .presence_sources
                .iter()
                .find(|declared| declared.name == info.name)
                .map(|declared| declared.summary())
                .unwrap_or_default(),
        };
        let indent = " ".repeat(17);
        out += &format!("  {:<14} {summary}\n", info.name);
        out += &format!("{indent}events: {}\n", info.events.join(", "));
        if !info.reason_codes.is_empty() {
            out += &format!("{indent}reason codes: {}\n", info.reason_codes.join(", "));
        }
        for (key, about) in &info.group_settings {
            out += &format!("{indent}group setting `{key}`: {about}\n");
        }
    }
    out += "policies:\n";
    for policy in registry.policies() {
        out += &format!("  {:<14} {}\n", policy.name, policy.summary);
    }
    // A closed pipe (`openline plugins | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    ExitCode::SUCCESS
}

fn serve(config: Option<&Path>) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(config));
    // Everything that matters finished inside `run`; do not wait for idle blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            tracing::error!("stopped after a store failure; a restart replays the durable state");
            ExitCode::FAILURE
        }
        Err(error) => {
            tracing::error!("{}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once (a database error repeats its cause in its own
/// message), with what to do when the PostgreSQL database does not exist.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut missing_database = false;
    for cause in error.chain() {
        let line = cause.to_string();
        if !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            // 3D000: invalid_catalog_name.
            missing_database |= db.code().as_deref() == Some("3D000");
        }
        if let Some(crate::store::StoreError::Database(sqlx::Error::Database(db))) =
            cause.downcast_ref::<crate::store::StoreError>()
        {
            missing_database |= db.code().as_deref() == Some("3D000");
        }
    }
    if missing_database {
        text.push_str(
            "; openline does not create the database: create it first \
             (e.g. `createdb -h HOST -U USER NAME` or `CREATE DATABASE name;` in psql)",
        );
    }
    text
}

/// Serves until SIGINT/SIGTERM or a fatal store failure; false after a store failure.
async fn run(config: Option<&Path>) -> anyhow::Result<bool> {
    let settings = Settings::load(config)?;
    let registry = crate::registry()?;
    for warning in settings.validate(&registry, chrono::Utc::now())? {
        tracing::warn!("{warning}");
    }
    // The port is taken only once this server holds the store: a standby waiting for the
    // lock leaves it free (a load balancer sees it down, a second server on the same host can
    // use the same address once it takes over).
    if settings.needs_a_token() && !store_has_tokens(&settings.store.url).await? {
        anyhow::bail!(
            "`server.listen`: `{}` is not a loopback address, and no way to authenticate is \
             configured: no token exists in the store and no JWT key is set (SPEC R27). \
             Create a token first (`openline token create --config FILE --role admin --name \
             NAME`), configure `[auth] jwt_hs256_secret` or `jwt_public_key_file`, listen on \
             127.0.0.1, or set `[auth] mode = \"none\"` to let anyone who reaches the port do \
             everything",
            settings.server.listen
        );
    }
    let started = Runtime::start(&settings, &registry).await?;
    let listener = match tokio::net::TcpListener::bind(&settings.server.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            started.stop().await;
            return Err(error)
                .with_context(|| format!("cannot listen on {}", settings.server.listen));
        }
    };
    let runtime = started.runtime.clone();
    tracing::info!(listen = %settings.server.listen, store = store_label(&settings.store.url), "openline serving");
    let stop = {
        let runtime = runtime.clone();
        async move {
            wait_for_stop(runtime.shutdown_signal()).await;
            tracing::info!("shutting down: finishing in-flight requests and writes");
            runtime.request_shutdown();
        }
    };
    let no_jwt =
        settings.auth.jwt_hs256_secret.is_none() && settings.auth.jwt_public_key_file.is_none();
    if settings.local_mode() && no_jwt && !runtime.store().token_ever_created().await? {
        tracing::warn!(
            "serving without authentication on a loopback address (no token was ever created): only \
             requests addressed to localhost, 127.0.0.1 or [::1] are answered; create a token \
             with `openline token create` to require one"
        );
    }
    let router = app(AppState {
        runtime,
        gate: std::sync::Arc::new(crate::http::auth::Gate::new(&settings)?),
    });
    http_serve::serve(listener, router, Timeouts::from(&settings.server), stop).await;
    let durable = started.stop().await;
    tracing::info!("stopped");
    Ok(durable)
}

/// Whether the store at `url` holds a token; a SQLite file that does not exist yet holds
/// none (and is not created by asking).
async fn store_has_tokens(url: &str) -> anyhow::Result<bool> {
    if let Some(path) = crate::store::lock::sqlite_path(url)
        && !Path::new(path).exists()
    {
        return Ok(false);
    }
    let store = crate::store::Store::connect(url).await?;
    let has = store.has_tokens().await;
    store.close().await;
    Ok(has?)
}

/// The store URL without credentials, for logs.
fn store_label(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…{}", &url[at..]),
        _ => url.to_owned(),
    }
}

async fn wait_for_stop(mut shutdown: watch::Receiver<bool>) {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}
