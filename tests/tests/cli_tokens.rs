//! `openline token create|list|revoke` of API.md "Authentication (R25–R27)": the secret alone
//! on the last line of stdout, shown once; listed without secrets; revoked; refusals exit
//! non-zero and change nothing; the CLI works beside a server running on the same store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use openline_tests::*;

/// A config file in `dir` whose store is `url`; its path.
fn config_for(dir: &Path, url: &str) -> String {
    let path = dir.join(format!(
        "tokens-{}.toml",
        openline_tests::server::unique_suffix()
    ));
    fs::write(&path, format!("[store]\nurl = \"{url}\"\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A config file in `dir` with a fresh SQLite store there.
fn config(dir: &TempDir) -> String {
    let url = format!("sqlite://{}", dir.path().join("openline.db").display());
    config_for(dir.path(), &url)
}

/// `openline token ARGS… --config CONFIG`; (success, output).
fn token(dir: &Path, config: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config]);
    run_cli(dir, &all, &[])
}

/// Creates a token, which must succeed; its secret (the last line).
#[track_caller]
fn create(dir: &Path, config: &str, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    let (ok, out) = token(dir, config, &all);
    assert!(ok, "`token create {args:?}` failed: {out}");
    let secret = out.lines().last().unwrap_or_default().to_owned();
    assert!(
        secret.starts_with("olt_") && secret.len() >= 4 + 22 && !secret.contains(' '),
        "the last line is not a token alone: {out:?}"
    );
    secret
}

#[track_caller]
fn list(dir: &Path, config: &str) -> String {
    let (ok, out) = token(dir, config, &["list"]);
    assert!(ok, "`token list` failed: {out}");
    out
}

#[test]
fn cli_token_create_list_revoke() {
    let dir = TempDir::new();
    let config = config(&dir);
    let admin = create(dir.path(), &config, &["--role", "admin", "--name", "ops"]);
    let agent = create(
        dir.path(),
        &config,
        &[
            "--role",
            "agent",
            "--agent",
            "alice",
            "--name",
            "alice-laptop",
        ],
    );
    assert_ne!(admin, agent);

    let listed = list(dir.path(), &config);
    for expected in ["ops", "admin", "alice-laptop", "agent", "alice"] {
        assert!(listed.contains(expected), "no `{expected}` in {listed}");
    }
    for secret in [&admin, &agent] {
        assert!(
            !listed.contains(&secret[4..]),
            "a secret is listed: {listed}"
        );
    }

    let (ok, out) = token(dir.path(), &config, &["revoke", "ops"]);
    assert!(ok, "`token revoke ops` failed: {out}");
    let listed = list(dir.path(), &config);
    assert!(!listed.lines().any(|l| l.starts_with("ops ")), "{listed}");
    assert!(listed.contains("alice-laptop"), "{listed}");

    // Revoked, the name is free for a new token, with a new secret.
    let again = create(
        dir.path(),
        &config,
        &["--role", "supervisor", "--name", "ops"],
    );
    assert_ne!(again, admin);
}

#[test]
fn cli_token_revoke_of_an_unknown_name_fails_naming_it() {
    let dir = TempDir::new();
    let config = config(&dir);
    create(dir.path(), &config, &["--role", "admin", "--name", "ops"]);
    let (ok, out) = token(dir.path(), &config, &["revoke", "nobody"]);
    assert!(!ok, "revoking an unknown token succeeded: {out}");
    assert!(out.contains("nobody"), "{out}");
    assert!(list(dir.path(), &config).contains("ops"));
}

#[test]
fn cli_token_refusals_change_nothing() {
    let dir = TempDir::new();
    let config = config(&dir);
    create(
        dir.path(),
        &config,
        &["--role", "integration", "--name", "ci"],
    );
    let before = list(dir.path(), &config);
    let refused: [(&[&str], &str); 5] = [
        (&["--role", "admin", "--name", "ci"], "ci"),
        (&["--role", "agent", "--name", "bob"], "agent"),
        (
            &["--role", "supervisor", "--agent", "bob", "--name", "bob"],
            "agent",
        ),
        (&["--role", "root", "--name", "bob"], "root"),
        (&["--role", "admin", "--name", "a b"], "a b"),
    ];
    for (args, mentions) in refused {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let (ok, out) = token(dir.path(), &config, &all);
        assert!(!ok, "`token create {args:?}` succeeded: {out}");
        assert!(out.contains(mentions), "`{mentions}` not named in {out}");
        assert!(!out.contains("olt_"), "a secret was printed: {out}");
    }
    assert_eq!(list(dir.path(), &config), before);
}

#[test]
fn cli_token_without_a_usable_config_fails() {
    let dir = TempDir::new();
    let missing = dir.path().join("missing.toml");
    let (ok, out) = token(dir.path(), missing.to_str().unwrap(), &["list"]);
    assert!(!ok, "{out}");
    assert!(out.contains("missing.toml"), "{out}");
}

/// Beside a server on the same store (which holds the store's lock): create, list and
/// revoke work, and the server keeps serving and writing. (Its writes come after the revoke:
/// with a live token, the server would ask requests for one, SPEC R27.)
fn tokens_beside_a_running_server(backend: &Backend) {
    let s = Server::builder().backend(backend).start();
    s.put_agent("alice", &[]);
    let dir = TempDir::new();
    let config = config_for(dir.path(), s.store_url());
    let secret = create(
        dir.path(),
        &config,
        &["--role", "agent", "--agent", "alice", "--name", "alice-1"],
    );
    let listed = list(dir.path(), &config);
    assert!(listed.contains("alice-1"), "{listed}");
    assert!(!listed.contains(&secret[4..]), "{listed}");
    assert_eq!(s.call("GET", "/healthz", None).status, 200);
    // The server accepts it (and remembers it: the next check costs no query) ...
    for _ in 0..2 {
        let r = s.call_as(Some(&secret), "GET", "/v1/agents/alice", None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (ok, out) = token(dir.path(), &config, &["revoke", "alice-1"]);
    assert!(ok, "`token revoke` beside a server failed: {out}");
    // ... and refuses it once another process revoked it: at the next request on SQLite,
    // once the notification arrived (milliseconds) on PostgreSQL (SPEC R25).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let status = s
            .call_as(Some(&secret), "GET", "/v1/agents/alice", None)
            .status;
        if status == 401 {
            break;
        }
        assert!(
            matches!(backend, Backend::Postgres(_)) && std::time::Instant::now() < deadline,
            "a revoked token was accepted ({status})"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(list(dir.path(), &config).contains("no tokens"));
    s.put_agent("bob", &[]);
    let agents = s.get("/v1/agents").to_string();
    for agent in ["alice", "bob"] {
        assert!(agents.contains(agent), "{agents}");
    }
}

openline_tests::backend_tests!(
    tokens_beside_a_running_server: cli_token_beside_a_running_server_sqlite,
    cli_token_beside_a_running_server_postgres
);
