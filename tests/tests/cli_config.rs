//! The command line and configuration contract of API.md: `plugins`, `check --config`,
//! `serve` with and without a file, `OPENLINE__<SECTION>__<KEY>` overrides, `[[channels]]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use openline_tests::*;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"
[store]
url = "sqlite://openline.db"
[clock]
mode = "manual"
[plugins.messenger]
heartbeat_timeout = "2m"
[plugins.mobile]
background_grace = "5m"
heartbeat_timeout = "2m"
[plugins.browser]
idle_timeout = "15m"
[plugins.timesheet]
groups = ["shift-workers"]
[[channels]]
id = "web"
name = "Website chat"
check_availability = true
sources = ["hr", "timesheet", "messenger", "mobile", "browser"]
policy = "evenly"
queue = ["alice", "bob"]
"#;

/// Writes `text` as a config file in `dir` and runs `check --config` on it.
fn check(dir: &TempDir, text: &str) -> (bool, String) {
    let path = dir.path().join("candidate.toml");
    fs::write(&path, text).unwrap();
    run_cli(
        dir.path(),
        &["check", "--config", path.to_str().unwrap()],
        &[],
    )
}

#[test]
fn the_harness_runs_the_binary_cargo_built_for_this_package() {
    let built = std::path::PathBuf::from(env!("CARGO_BIN_EXE_openline-under-test"));
    assert_eq!(
        openline_tests::server::binary().canonicalize().unwrap(),
        built.canonicalize().unwrap()
    );
}

#[test]
fn cli_plugins_lists_every_bundled_source_and_policy() {
    let dir = TempDir::new();
    let (ok, out) = run_cli(dir.path(), &["plugins"], &[]);
    assert!(ok, "`plugins` failed: {out}");
    for name in ALL_SOURCES.iter().chain(ALL_POLICIES.iter()) {
        assert!(out.contains(name), "`plugins` does not list {name}: {out}");
    }
}

#[test]
fn cli_check_accepts_the_documented_file() {
    let dir = TempDir::new();
    let (ok, out) = check(&dir, GOOD);
    assert!(ok, "`check` refused the file of API.md: {out}");
}

#[test]
fn cli_check_refuses_bad_files_naming_the_key() {
    let dir = TempDir::new();
    let cases = [
        (
            GOOD.replace(r#"mode = "manual""#, r#"mode = "sundial""#),
            "mode",
        ),
        (
            GOOD.replace(
                r#"background_grace = "5m""#,
                r#"background_grace = "five minutes""#,
            ),
            "background_grace",
        ),
        (
            GOOD.replace(r#"idle_timeout = "15m""#, "idle_timeout = 15"),
            "idle_timeout",
        ),
        (
            GOOD.replace(r#"listen = "127.0.0.1:8080""#, r#"listen = "nowhere""#),
            "listen",
        ),
        (
            GOOD.replace(r#"policy = "evenly""#, r#"policy = "random""#),
            "random",
        ),
        (
            GOOD.replace(r#"sources = ["hr", "#, r#"sources = ["fax", "hr", "#),
            "fax",
        ),
        (
            GOOD.replace(
                r#"groups = ["shift-workers"]"#,
                r#"groups = "shift-workers""#,
            ),
            "groups",
        ),
        (
            GOOD.replace(
                r#"url = "sqlite://openline.db""#,
                r#"url = "mysql://x@y/z""#,
            ),
            "url",
        ),
    ];
    for (text, key) in cases {
        let (ok, out) = check(&dir, &text);
        assert!(!ok, "`check` accepted a file with a bad `{key}`: {out}");
        assert!(names(&out, key), "`check` should name `{key}`: {out}");
    }
    let (ok, out) = check(&dir, "[server\nlisten = ");
    assert!(!ok && !out.trim().is_empty(), "malformed TOML: {out}");
    let (ok, out) = run_cli(
        dir.path(),
        &["check", "--config", "does-not-exist.toml"],
        &[],
    );
    assert!(
        !ok && out.contains("does-not-exist.toml"),
        "missing file: {out}"
    );
}

#[test]
fn r3_cli_check_warns_about_a_channel_that_can_route_to_nobody() {
    let dir = TempDir::new();
    let text = format!(
        "{GOOD}\n[[channels]]\nid = \"hr-only\"\nname = \"HR only\"\ncheck_availability = true\nsources = [\"hr\"]\npolicy = \"evenly\"\nqueue = [\"alice\"]\n"
    );
    let (ok, out) = check(&dir, &text);
    assert!(ok, "a warning is not an error: {out}");
    assert!(
        out.contains("hr-only"),
        "`check` should warn about channel hr-only: {out}"
    );
    let (_, clean) = check(&dir, GOOD);
    assert!(!clean.contains("hr-only"));
}

#[test]
fn environment_overrides_the_listen_address_of_the_file() {
    let s = Server::builder().listen_via_env().start();
    assert_eq!(
        s.call("GET", "/healthz", None).status,
        200,
        "serving on the address from OPENLINE__SERVER__LISTEN"
    );
    let text = fs::read_to_string(s.dir().join("openline.toml")).unwrap();
    assert!(
        !text.contains(&format!(":{}\"", s.port)),
        "the file names another port: {text}"
    );
}

#[test]
fn environment_overrides_the_clock_mode_of_the_file() {
    let s = Server::builder()
        .clock("system")
        .env("OPENLINE__CLOCK__MODE", "manual")
        .start();
    assert_eq!(s.get("/v1/clock")["mode"], "manual");
}

#[test]
fn serve_without_a_file_uses_the_built_in_defaults() {
    let s = Server::builder().without_config_file().start();
    assert_eq!(s.get("/v1/clock")["mode"], "system", "default clock");
    assert!(
        s.dir().join("openline.db").exists(),
        "default store: openline.db in the working directory"
    );
    s.put_agent("a", &[]);
    assert_eq!(s.get("/v1/agents/a")["id"], "a");
}

#[test]
fn r19_channels_of_the_config_file_are_applied_at_start_up_and_the_file_wins() {
    let channel = "[[channels]]\nid = \"web\"\nname = \"Website chat\"\ncheck_availability = true\nsources = [\"hr\", \"browser\"]\npolicy = \"round_robin\"\nqueue = [\"alice\", \"bob\"]\nmax_chats = 3\noffer_timeout_seconds = 90\n";
    let mut s = Server::builder().extra(channel).start();
    let web = s.get("/v1/channels/web");
    let expected = [
        ("name", json!("Website chat")),
        ("check_availability", json!(true)),
        ("policy", json!("round_robin")),
        ("queue", json!(["alice", "bob"])),
        ("max_chats", json!(3)),
        ("offer_timeout_seconds", json!(90)),
    ];
    for (field, value) in &expected {
        assert_eq!(&web[field], value, "`{field}` from the file: {web:#}");
    }
    assert_eq!(sorted_strings(&web["sources"]), ["browser", "hr"]);
    s.patch_channel("web", json!({"policy": "strict_order", "queue": ["carol"]}));
    s.put_channel("api-made", &["carol"], json!({"policy": "least_busy"}));
    let api_made = s.get("/v1/channels/api-made");
    s.crash_and_restart();
    let web = s.get("/v1/channels/web");
    for (field, value) in &expected {
        assert_eq!(
            &web[field], value,
            "the file wins for its channels after a restart: {web:#}"
        );
    }
    assert_eq!(
        s.get("/v1/channels/api-made"),
        api_made,
        "channels made through the API are kept"
    );
}

#[test]
fn a_missing_postgresql_database_is_reported_once_with_what_to_do() {
    let Some(url) = openline_tests::db::postgres_url() else {
        return;
    };
    let dir = TempDir::new();
    let missing = openline_tests::db::with_database(url.trim(), "openline_no_such_database");
    let port = openline_tests::server::free_port();
    let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nurl = \"{missing}\"\n");
    let out = serve_refused(dir.path(), "openline.toml", &text);
    assert_eq!(out.matches("does not exist").count(), 1, "said once: {out}");
    assert!(out.contains("create it first"), "{out}");
}

#[test]
fn r27_serve_refuses_a_network_address_without_a_way_to_authenticate() {
    let dir = TempDir::new();
    let out = serve_refused(
        dir.path(),
        "openline.toml",
        "[server]\nlisten = \"0.0.0.0:0\"\n",
    );
    assert!(
        out.contains("not a loopback address") && out.contains("mode = \"none\""),
        "{out}"
    );
    assert!(
        !dir.path().join("openline.db").exists(),
        "refused before touching the store"
    );
}

#[test]
fn without_a_database_postgresql_tests_say_they_skip_and_fail_under_ci() {
    // Issue #20 item 19: they passed silently; CI must never miss them.
    let run = |ci: Option<&str>| {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "a_missing_postgresql_database_is_reported_once_with_what_to_do",
                "--nocapture",
            ])
            .env_remove(openline_tests::db::PG_ENV);
        match ci {
            Some(value) => command.env("CI", value),
            None => command.env_remove("CI"),
        };
        let out = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (passed, text) = run(None);
    assert!(passed, "{text}");
    assert!(text.contains("skipping PostgreSQL"), "{text}");
    let (passed, text) = run(Some("true"));
    assert!(!passed, "{text}");
    assert!(text.contains("CI=true"), "{text}");
}
