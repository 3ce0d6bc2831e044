//! The command line (API.md "Command line and configuration"): `openline serve`, `openline
//! check`, `openline plugins`, `openline token …` (`cli/token.rs`), each with an optional
//! `--config FILE`; without one, every command uses the same defaults (and the environment).

mod new_files;
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

/// What `--help` says first: what openline is, for whoever deploys it.
const ABOUT: &str = "openline sends each customer conversation of your support channels to an \
                     agent who is really there (signed in, not on leave, within working hours).";

/// What `--help` says last: the defaults and how to change them.
const DEFAULTS: &str = "\
Without --config, every command uses the built-in defaults:
  listens on       127.0.0.1:8080 (this machine only)
  stores data in   openline.db (SQLite, in the current directory)
  authentication   none needed from this machine until you create a token
                   (openline token create --role admin --name NAME)

Any setting can be changed with an environment variable OPENLINE__<SECTION>__<KEY>, also
over a file, e.g.:
  OPENLINE__SERVER__LISTEN=0.0.0.0:8080
  OPENLINE__STORE__URL=postgres://openline@db.example.com/openline
RUST_LOG sets the log level (e.g. RUST_LOG=debug). Every setting, its default and its
variable: docs/configuration.md; a commented example: openline.example.toml.";

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "openline", version, about = ABOUT, after_help = DEFAULTS)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the server (on 127.0.0.1:8080 with its data in openline.db unless configured).
    Serve {
        /// Configuration file (TOML); without it, the defaults and the environment.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check the configuration without starting; names the setting at fault.
    Check {
        /// Configuration file (TOML); without it, the defaults and the environment.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the availability sources and routing policies this server knows.
    Plugins {
        /// Configuration file (TOML) whose own presence sources to list too.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create, list and revoke API tokens (also while the server runs).
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
        Cmd::Check { config } => check(config.as_deref()),
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

/// How the configuration is named in messages: its file, or the defaults.
fn source_label(config: Option<&Path>) -> String {
    config.map_or_else(
        || "the defaults (no --config file)".to_owned(),
        |path| path.display().to_string(),
    )
}

fn check(config: Option<&Path>) -> ExitCode {
    let outcome = Settings::load(config).and_then(|settings| {
        let registry =
            crate::registry().map_err(|e| crate::config::ConfigError::Load(e.to_string()))?;
        let mut warnings = settings.validate(&registry, chrono::Utc::now())?;
        warnings.extend(token_warning(&settings));
        Ok(warnings)
    });
    let label = source_label(config);
    match outcome {
        Ok(warnings) => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "{label}: ok{}",
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(" ({} warning(s))", warnings.len())
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) if error.is_from_environment() || config.is_none() => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {label}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// For `openline check`: that a server listening on a network address would not start, said
/// only when it applies (SPEC R27): no JWT key and no token in the store yet.
fn token_warning(settings: &Settings) -> Option<String> {
    if !settings.needs_a_token() {
        return None;
    }
    let has_tokens = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(store_has_tokens(&settings.store.url)));
    let why = match has_tokens {
        Ok(true) => return None,
        Ok(false) => "no token exists in the store yet".to_owned(),
        Err(error) => format!("whether a token exists is unknown ({})", describe(&error)),
    };
    Some(format!(
        "server.listen: `{}` is not a loopback address, no JWT key is configured and {why}: \
         the server starts only once a token exists (`openline token create --role admin \
         --name NAME`, with the same --config if you use one), or with `[auth] mode = \"none\"`",
        settings.server.listen
    ))
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
             configured: no token exists in the store and no JWT key is set. Create a \
             token first (`openline token create --role admin --name NAME`, with the same \
             --config if you use one), configure `[auth] jwt_hs256_secret` or `jwt_public_key_file`, listen on \
             127.0.0.1, or set `[auth] mode = \"none\"` to let anyone who reaches the port do \
             everything",
            settings.server.listen
        );
    }
    let new_files = new_files::NewStoreFiles::before_start(&settings.store.url);
    let started = match Runtime::start(&settings, &registry).await {
        Ok(started) => started,
        Err(error) => {
            new_files.remove();
            return Err(error);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&settings.server.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            started.stop().await;
            new_files.remove();
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
