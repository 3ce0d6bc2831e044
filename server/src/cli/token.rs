//! `openline token create|list|revoke` (API.md "Authentication"): tokens in the store of a
//! configuration file, or of the defaults without one (the store `openline serve` uses). They connect to the store directly, without taking the store's lock,
//! so they work beside a server running on the same store, which sees the change from its
//! next request on. A failure prints a message, exits non-zero and changes nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::auth::token::{Role, TokenInfo};
use crate::config::Settings;
use crate::store::Store;

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub(super) enum TokenCmd {
    /// Create a token; prints its secret, shown this once, alone on the last line.
    Create {
        /// Configuration file (TOML) naming the store; without it, the default store
        /// (openline.db in the current directory, as `openline serve` uses).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// What it may do: admin, supervisor, integration or agent.
        #[arg(long)]
        role: Role,
        /// The agent id it acts as (required for, and only for, the agent role).
        #[arg(long)]
        agent: Option<String>,
        /// Its unique name (1-64 of A-Z a-z 0-9 . _ -), recorded as who made each change.
        #[arg(long)]
        name: String,
    },
    /// List the tokens: names, roles, agents, creation instants (never the secrets).
    List {
        /// Configuration file (TOML) naming the store; without it, the default store
        /// (openline.db in the current directory, as `openline serve` uses).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Revoke a token: it is refused from the next request on.
    Revoke {
        /// Configuration file (TOML) naming the store; without it, the default store
        /// (openline.db in the current directory, as `openline serve` uses).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The token's name.
        name: String,
    },
}

impl TokenCmd {
    fn config(&self) -> Option<&Path> {
        match self {
            Self::Create { config, .. } | Self::List { config } | Self::Revoke { config, .. } => {
                config.as_deref()
            }
        }
    }
}

/// Runs `command`; the process exit code.
pub(super) fn main(command: TokenCmd) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(&command)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", super::describe(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &TokenCmd) -> anyhow::Result<()> {
    let config = command.config();
    let settings = Settings::load(config).with_context(|| super::source_label(config))?;
    let store = Store::connect(&settings.store.url)
        .await
        .context("cannot open the store")?;
    let outcome = act(&store, command).await;
    store.close().await;
    outcome
}

/// Who the audit trail names for changes made with these commands (SPEC R28).
const CLI_ACTOR: &str = "cli";

async fn act(store: &Store, command: &TokenCmd) -> anyhow::Result<()> {
    match command {
        TokenCmd::Create {
            role, agent, name, ..
        } => {
            let (info, secret) = store
                .create_token(name, *role, agent.as_deref(), chrono::Utc::now(), CLI_ACTOR)
                .await?;
            let agent = info
                .agent
                .as_ref()
                .map(|agent| format!(" for agent `{agent}`"))
                .unwrap_or_default();
            let text = format!(
                "created token `{name}` (role {role}){agent}; its secret, shown only this once:\n{secret}\n",
            );
            if let Err(error) = print(&text) {
                // Unseen, the secret is useless: take the token back rather than leave it.
                store
                    .revoke_token(name, chrono::Utc::now(), CLI_ACTOR)
                    .await?;
                return Err(error).context("cannot print the new token; it was not kept");
            }
            Ok(())
        }
        TokenCmd::List { .. } => {
            let tokens = store.list_tokens().await?;
            print(&table(&tokens)).context("cannot print the tokens")
        }
        TokenCmd::Revoke { name, .. } => {
            if !store
                .revoke_token(name, chrono::Utc::now(), CLI_ACTOR)
                .await?
            {
                anyhow::bail!("no token named `{name}` (see `openline token list`)");
            }
            print(&format!(
                "revoked token `{name}`: it is refused from the next request on\n"
            ))
            .context("cannot print the outcome")
        }
    }
}

/// Writes `text` to stdout, flushed.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The tokens as an aligned table with a header, or a line saying there is none.
fn table(tokens: &[TokenInfo]) -> String {
    if tokens.is_empty() {
        return "no tokens\n".into();
    }
    let rows: Vec<[String; 4]> = tokens
        .iter()
        .map(|token| {
            [
                token.name.clone(),
                token.role.to_string(),
                token
                    .agent
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
                token
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ]
        })
        .collect();
    let header = ["NAME", "ROLE", "AGENT", "CREATED"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::id::AgentId;

    use super::*;

    #[test]
    fn the_table_aligns_columns_and_marks_a_missing_agent() {
        let at = chrono::DateTime::from_timestamp(1_767_225_600, 5).unwrap();
        let tokens = [
            TokenInfo {
                name: "alice-laptop".into(),
                role: Role::Agent,
                agent: Some(AgentId::new("alice").unwrap()),
                created_at: at,
            },
            TokenInfo {
                name: "ops".into(),
                role: Role::Admin,
                agent: None,
                created_at: at,
            },
        ];
        assert_eq!(
            table(&tokens),
            "NAME          ROLE   AGENT  CREATED\n\
             alice-laptop  agent  alice  2026-01-01T00:00:00Z\n\
             ops           admin  -      2026-01-01T00:00:00Z\n"
        );
        assert_eq!(table(&[]), "no tokens\n");
    }
}
