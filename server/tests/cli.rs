//! The command line of API.md: `openline check`, `openline plugins`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn openline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openline"))
        .args(args)
        .output()
        .unwrap()
}

fn config(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("openline-cli-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&path, text).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_example_file() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openline.example.toml");
    let out = openline(&["check", "--config", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).is_empty(),
        "no warnings: {}",
        text(&out.stderr)
    );
}

#[test]
fn check_refuses_an_unknown_key_naming_it() {
    let path = config("[server]\nlisten = \"127.0.0.1:1\"\ntimeout = 3\n");
    let out = openline(&["check", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("timeout") && stderr.contains("server"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn check_refuses_a_bad_plugin_duration() {
    let path = config("[plugins.browser]\nidle_timeout = \"soon\"\n");
    let out = openline(&["check", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("idle_timeout"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn r3_check_warns_about_an_hr_only_channel_but_passes() {
    let path = config(
        "[[channels]]\nid = \"web\"\nname = \"Web\"\ncheck_availability = true\nsources = [\"hr\"]\n",
    );
    let out = openline(&["check", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("web") && stderr.contains("nobody"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn check_needs_an_existing_file() {
    let out = openline(&["check", "--config", "/nonexistent/openline.toml"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/openline.toml"));
}

#[test]
fn plugins_lists_every_registered_name() {
    let out = openline(&["plugins"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for name in [
        "browser",
        "hr",
        "messenger",
        "mobile",
        "timesheet",
        "all_at_once",
        "evenly",
        "least_busy",
        "longest_idle",
        "round_robin",
        "strict_order",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
}
