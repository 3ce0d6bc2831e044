//! What a new deployer meets on the command line (issue #20 item 17, SPEC R27, R36): every
//! command works without a file on the same defaults as `serve`, `--help` gives those defaults
//! and the environment overrides, warnings are said only when they apply, and a start that
//! fails leaves no store file behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openline_tests::*;

/// `openline serve ARGS…` started in `dir` with `env`, its output to `dir/serve.log`.
fn spawn_serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let log = fs::File::create(dir.join("serve.log")).unwrap();
    let mut cmd = Command::new(openline_tests::server::binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OPENLINE") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd.spawn().unwrap()
}

/// Waits (30 s at most) until the server on `port` answers `/healthz`.
#[track_caller]
fn wait_healthy(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if openline_tests::http::send(port, "GET", "/healthz", None).is_ok_and(|r| r.status == 200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the server did not start: {}",
        fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// SPEC R27 (#20 item 17): a quick-start user has no file. `openline token create` and
/// `openline check` without `--config` use the store `openline serve` uses without one
/// (`openline.db` in the working directory): the token made that way is the one the server
/// then asks for.
#[test]
fn r27_token_create_and_check_without_a_file_use_the_same_store_as_serve() {
    let dir = TempDir::new();
    let (ok, out) = run_cli(
        dir.path(),
        &["token", "create", "--role", "admin", "--name", "ops"],
        &[],
    );
    assert!(ok, "`token create` without --config failed: {out}");
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(dir.path().join("openline.db").exists(), "the default store");
    let (ok, out) = run_cli(dir.path(), &["token", "list"], &[]);
    assert!(
        ok && out.contains("ops"),
        "`token list` without --config: {out}"
    );
    let (ok, out) = run_cli(dir.path(), &["check"], &[]);
    assert!(ok, "`check` without --config failed: {out}");
    assert!(out.contains("ok"), "{out}");

    let port = openline_tests::server::free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = spawn_serve(dir.path(), &[], &[("OPENLINE__SERVER__LISTEN", &listen)]);
    wait_healthy(port, dir.path());
    let anonymous = openline_tests::http::send(port, "GET", "/v1/whoami", None).unwrap();
    let bearer = format!("Bearer {secret}");
    let with_token = openline_tests::http::send_with(
        port,
        "GET",
        "/v1/whoami",
        None,
        &[("Authorization", bearer.as_str())],
    )
    .unwrap();
    stop(server);
    assert_eq!(
        anonymous.status, 401,
        "the token exists in serve's store, so local mode is over"
    );
    assert_eq!(with_token.status, 200, "serve knows the CLI's token");
}

/// SPEC R27 (#20 item 17): "starts only once a token exists" is said only while no token
/// exists: not at every start of a networked server that has one, and not by `check` then.
#[test]
fn r27_a_networked_server_with_a_token_does_not_warn_that_it_needs_one() {
    let dir = TempDir::new();
    let port = openline_tests::server::free_port();
    let config = dir.path().join("openline.toml");
    fs::write(
        &config,
        format!("[server]\nlisten = \"0.0.0.0:{port}\"\n[store]\nurl = \"sqlite://openline.db\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (ok, before) = run_cli(dir.path(), &["check", "--config", config], &[]);
    assert!(ok, "{before}");
    assert!(
        before.contains("only once a token exists"),
        "without a token, `check` says the server would not start: {before}"
    );
    let (ok, out) = run_cli(
        dir.path(),
        &[
            "token", "create", "--config", config, "--role", "admin", "--name", "ops",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let (ok, after) = run_cli(dir.path(), &["check", "--config", config], &[]);
    assert!(ok, "{after}");
    assert!(
        !after.contains("warning") && !after.contains("token exists"),
        "with a token there is nothing to warn about: {after}"
    );
    let server = spawn_serve(dir.path(), &["--config", config], &[]);
    wait_healthy(port, dir.path());
    stop(server);
    let log = fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        !log.contains("only once a token exists") && !log.contains("WARN"),
        "a start with a token warns about nothing: {log}"
    );
}

/// SPEC R20 (#20 item 17): a start that cannot listen (the address is taken) exits non-zero
/// saying so, and leaves no store file behind (nor its journal or lock file).
#[test]
fn r20_a_start_on_a_taken_address_fails_and_leaves_no_store_file() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (ok, out) = run_cli(
        dir.path(),
        &["serve"],
        &[("OPENLINE__SERVER__LISTEN", &listen)],
    );
    assert!(!ok, "serve should fail on a taken address: {out}");
    assert!(
        out.contains(&listen),
        "the message names the address: {out}"
    );
    let left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("openline.db"))
        .collect();
    assert!(left.is_empty(), "a failed start left {left:?}");
}

/// #20 item 17: `--help` speaks to a deployer: what openline does, the defaults it runs on
/// without a file, and that the environment overrides any setting.
#[test]
fn help_gives_the_defaults_and_the_environment_overrides() {
    let dir = TempDir::new();
    let (ok, help) = run_cli(dir.path(), &["--help"], &[]);
    assert!(ok, "{help}");
    for needed in ["127.0.0.1:8080", "openline.db", "OPENLINE__", "--config"] {
        assert!(
            help.contains(needed),
            "`--help` does not say `{needed}`: {help}"
        );
    }
    let first = help.lines().next().unwrap_or_default();
    assert!(
        first.contains("agent") && first.contains("conversation"),
        "the first line says what it does for a support team: {first}"
    );
    for command in [&["token", "create", "--help"][..], &["check", "--help"][..]] {
        let (ok, out) = run_cli(dir.path(), command, &[]);
        assert!(ok, "{out}");
        assert!(
            out.contains("without it"),
            "`{}` says what happens without --config: {out}",
            command.join(" ")
        );
    }
}

/// #20 item 17: `openline plugins` describes a presence source of the file in whole words:
/// after the last *what* it goes offline.
#[test]
fn plugins_says_after_the_last_what_a_config_source_goes_offline() {
    let dir = TempDir::new();
    let config = dir.path().join("openline.toml");
    fs::write(
        &config,
        "[[presence_sources]]\nname = \"teams\"\nonline = [\"available\"]\noffline = [\"away\"]\ntimeout = \"10m\"\n",
    )
    .unwrap();
    let (ok, out) = run_cli(
        dir.path(),
        &["plugins", "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("offline 10m after the last online event"),
        "{out}"
    );
}
