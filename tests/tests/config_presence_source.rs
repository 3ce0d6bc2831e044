//! Presence sources declared in the config file, no code (SPEC R34): they route end to end
//! over HTTP like bundled ones, are listed and validated, and clash with nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

const TEAMS: &str = r#"
[[presence_sources]]
name = "teams"
online = ["available", "busy"]
offline = ["away", "offline"]
timeout = "10m"
"#;

/// A server whose config declares `teams`, with agents `a` and `b` on channel `web`, which
/// combines `hr` and `teams` and checks availability.
fn teams_world() -> Server {
    let s = Server::builder().extra(TEAMS).start();
    s.team("web", &["a", "b"], &[], json!({"sources": ["hr", "teams"]}));
    s
}

#[test]
fn r34_a_config_defined_source_routes_end_to_end() {
    let s = teams_world();
    let plugins = s.get("/v1/plugins");
    assert!(
        plugins["sources"]
            .as_array()
            .unwrap()
            .contains(&json!("teams")),
        "{plugins}"
    );
    assert!(!s.is_available("a", "web"), "nothing said yet");
    let queued = s.new_conversation("web", "c1");
    assert_eq!(queued["state"], "queued");

    s.signal("b", "teams", "available");
    let c1 = s.conversation("c1");
    assert_eq!(c1["state"], "offered");
    assert_eq!(c1["offered_to"], json!(["b"]));
    s.accept("c1", "b");

    // `away` takes b away at once; the accepted conversation (customer spoke last) is requeued.
    s.signal("b", "teams", "away");
    let c1 = s.conversation("c1");
    assert_eq!(c1["state"], "queued", "{c1}");
    let requeued = c1["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(requeued["event"], "requeued");
    assert_eq!(requeued["reason"], "offline");
}

#[test]
fn r34_the_declared_timeout_takes_an_agent_offline_by_itself() {
    let s = teams_world();
    s.signal("a", "teams", "busy");
    s.assert_online_until("a", "web", "teams", plus(s.now(), 600));
    s.assert_available_for("a", "web", 600);
    s.assert_verdict("a", "web", "teams", "offline", "teams said `busy`");
}

#[test]
fn r20_r34_events_it_does_not_declare_are_refused_listing_the_valid_ones() {
    let s = teams_world();
    let response = s.call(
        "POST",
        "/v1/signals",
        Some(&json!({"agent": "a", "source": "teams", "event": "dnd"})),
    );
    assert_error(
        &response,
        400,
        "invalid_request",
        &["`dnd`", "available, busy, away, offline"],
    );
    assert!(!s.is_available("a", "web"));
}

#[test]
fn r34_check_and_plugins_know_config_defined_sources() {
    let dir = TempDir::new();
    let config = dir.path().join("openline.toml");
    std::fs::write(&config, TEAMS).unwrap();
    let path = config.to_str().unwrap();
    let (ok, out) = run_cli(dir.path(), &["check", "--config", path], &[]);
    assert!(ok, "{out}");
    let (ok, out) = run_cli(dir.path(), &["plugins", "--config", path], &[]);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("teams") && l.contains("online on available/busy")),
        "{out}"
    );

    for (declaration, needle) in [
        (
            "[[presence_sources]]\nname = \"mobile\"\nonline = [\"up\"]\n",
            "presence_sources[0].name`: a source named `mobile` already exists",
        ),
        (
            "[[presence_sources]]\nname = \"teams\"\nonline = [\"up\"]\noffline = [\"up\"]\n",
            "presence_sources[0].offline`: event `up` is listed twice",
        ),
        (
            "[[presence_sources]]\nname = \"teams\"\nonline = [\"up\"]\ncolour = 1\n",
            "colour",
        ),
    ] {
        std::fs::write(&config, declaration).unwrap();
        let (ok, out) = run_cli(dir.path(), &["check", "--config", path], &[]);
        assert!(!ok, "{declaration} should be refused");
        assert!(out.contains(needle), "{needle} not in: {out}");
    }
}

#[test]
fn r34_plugins_describe_what_each_source_accepts_and_declares() {
    let s = teams_world();
    let plugins = s.get("/v1/plugins");
    let details = plugins["source_details"].as_array().unwrap();
    let detail = |name: &str| {
        details
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no details for {name}: {plugins}"))
            .clone()
    };
    assert_eq!(
        detail("teams")["events"],
        json!(["available", "busy", "away", "offline"])
    );
    assert_eq!(
        detail("hr")["reason_codes"],
        json!(["dismissed", "on_leave"])
    );
    assert_eq!(detail("timesheet")["reason_codes"], json!(["not_working"]));
    assert_eq!(
        detail("browser")["group_settings"][0]["key"],
        "session_lifetime_minutes"
    );
    let names: Vec<&Value> = details.iter().map(|d| &d["name"]).collect();
    let listed: Vec<&Value> = plugins["sources"].as_array().unwrap().iter().collect();
    assert_eq!(names, listed, "one detail per source, in the same order");
}

#[test]
fn r22_a_start_without_a_source_the_log_names_is_refused_not_served_with_less() {
    let mut s = teams_world();
    s.signal("a", "teams", "available");
    s.new_conversation("web", "c1");
    s.kill();
    let without_teams = s.config_text(s.port).replace(TEAMS, "");
    let out = serve_refused(s.dir(), "without-teams.toml", &without_teams);
    assert!(
        out.contains("cannot restore the state from the command log")
            && out.contains("log record")
            && out.contains("unknown source `teams`"),
        "{out}"
    );
}

#[test]
fn r19_r34_a_changed_presence_source_is_named_at_restart() {
    let teams = |timeout: &str| {
        format!(
            "{}[[presence_sources]]\nname = \"teams\"\nonline = [\"available\"]\ntimeout = \"{timeout}\"\n",
            openline_tests::server::DEFAULT_PLUGINS
        )
    };
    let mut s = Server::builder().plugins(&teams("10m")).start();
    s.put_agent("a", &[]);
    s.signal("a", "teams", "available");
    s.crash_and_restart();
    s.assert_log_lacks("plugin settings changed");
    s.crash_and_restart_with_plugins(&teams("20m"));
    let log = s.log_tail();
    assert!(
        log.contains("plugin settings changed") && log.contains("[[presence_sources]] `teams`"),
        "{log}"
    );
    assert!(!log.contains("[plugins.timesheet]"), "unchanged: {log}");
}
