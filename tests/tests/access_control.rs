//! Who may act, and from where (SPEC R35d, R35e, R35g; R28 for credentials of different
//! kinds), against the built server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// SPEC R35e: once a token was created in a store, revoking the last one does not bring
/// local mode back — not at once (through the token cache), not after a restart — and a new
/// token comes from the command line.
fn revoking_the_last_token_keeps_the_server_protected(backend: &Backend) {
    let mut s = Server::builder().backend(backend).start();
    assert_eq!(
        s.get("/v1/whoami")["name"],
        "local",
        "a fresh store: local mode"
    );
    let admin = s.create_token("only", "admin", None);
    s.set_token(Some(&admin));
    s.expect("DELETE", "/v1/tokens/only", None, &[204]);
    s.set_token(None);
    let refused = s.call_as(None, "PUT", "/v1/agents/eve", Some(br#"{"name": "Eve"}"#));
    assert_error(&refused, 401, "unauthorized", &[]);
    assert_error(
        &s.call_as(None, "GET", "/v1/whoami", None),
        401,
        "unauthorized",
        &[],
    );
    s.crash_and_restart();
    let after_restart = s.call_as(None, "PUT", "/v1/agents/eve", Some(br#"{"name": "Eve"}"#));
    assert_error(&after_restart, 401, "unauthorized", &[]);
    // The way back in: a token from the command line.
    let dir = TempDir::new();
    let config = dir.path().join("cli.toml");
    std::fs::write(&config, format!("[store]\nurl = \"{}\"\n", s.store_url())).unwrap();
    let (ok, out) = run_cli(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "again",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "`token create` failed: {out}");
    let secret = out.lines().last().unwrap().to_owned();
    s.set_token(Some(&secret));
    s.expect("GET", "/v1/agents/eve", None, &[404]);
}

backend_tests!(
    revoking_the_last_token_keeps_the_server_protected:
        r35e_revoking_the_last_token_keeps_sqlite_protected,
        r35e_revoking_the_last_token_keeps_postgres_protected
);

/// SPEC R35g: every page and script the server serves to browsers — each GET route of the
/// router outside the API that answers HTML or JavaScript — comes with a Content-Security-
/// Policy that forbids framing, `X-Content-Type-Options: nosniff` and
/// `Referrer-Policy: no-referrer`.
#[test]
fn r35g_every_page_is_served_with_its_protective_headers() {
    let s = Server::start();
    let mut pages = Vec::new();
    for (method, path) in openline_tests::routes::router_routes() {
        if method != "GET" || path.starts_with("/v1/") || path.contains('{') {
            continue;
        }
        let r = s.call_as(None, "GET", &path, None);
        let kind = r.header("content-type").unwrap_or_default().to_owned();
        if !(kind.starts_with("text/html") || kind.starts_with("text/javascript")) {
            continue;
        }
        assert_eq!(r.status, 200, "{path}");
        let policy = r.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: Content-Security-Policy `{policy}`"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        pages.push(path);
    }
    pages.sort();
    assert_eq!(pages, ["/", "/agent", "/presence.js"], "the pages found");
}

/// `POST /v1/conversations/{id}/close` with no body and `headers`.
fn close_with(s: &Server, id: &str, headers: &[(&str, &str)]) -> openline_tests::http::Response {
    openline_tests::http::send_with(
        s.port,
        "POST",
        &format!("/v1/conversations/{id}/close"),
        None,
        headers,
    )
    .unwrap()
}

/// SPEC R35e: a change asked by another site's page — a foreign `Origin`, or
/// `Sec-Fetch-Site: cross-site` — is refused 403 and changes nothing, with no body (no
/// `Content-Type`, so no CORS preflight) in local mode, and with a valid token too; the
/// server's own pages and the listed origins still act.
#[test]
fn r35e_a_cross_site_change_is_refused_in_every_mode() {
    let mut s = Server::builder()
        .server_setting("cors_origins = [\"https://desk.example\"]")
        .start();
    s.put_channel("web", &[], json!({}));
    for id in ["c1", "c2", "c3"] {
        s.new_conversation("web", id);
    }
    let own = format!("http://127.0.0.1:{}", s.port);
    let foreign = [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in &foreign {
        let r = close_with(&s, "c1", headers);
        assert_error(&r, 403, "forbidden", &["cors_origins"]);
    }
    assert_eq!(
        s.conversation("c1")["state"],
        "queued",
        "refused, yet changed"
    );
    let own_page = close_with(
        &s,
        "c1",
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(own_page.status, 200, "{}", own_page.text());
    let listed = close_with(&s, "c2", &[("Origin", "https://desk.example")]);
    assert_eq!(listed.status, 200, "{}", listed.text());

    // With a token: a stolen session in a browser is no way in either.
    let admin = s.create_token("root", "admin", None);
    s.set_token(Some(&admin));
    let bearer = format!("Bearer {admin}");
    for headers in &foreign {
        let mut headers = headers.clone();
        headers.push(("Authorization", &bearer));
        assert_error(&close_with(&s, "c3", &headers), 403, "forbidden", &[]);
    }
    assert_eq!(s.conversation("c3")["state"], "queued");
    let tool = close_with(&s, "c3", &[("Authorization", &bearer)]);
    assert_eq!(tool.status, 200, "no Origin: not a page, {}", tool.text());
}

/// A server with a config-defined presence source `teams` and `timesheet_settings`, agent
/// `alice` on channel `web`, an admin token as default and an agent token for `alice`, which
/// it returns.
fn alice_with_her_token(timesheet_settings: &str) -> (Server, String) {
    let mut s = Server::builder()
        .plugins(&format!("[plugins.timesheet]\n{timesheet_settings}"))
        .extra("[[presence_sources]]\nname = \"teams\"\nonline = [\"available\"]\noffline = [\"away\"]\n")
        .start();
    let admin = s.create_token("root", "admin", None);
    s.set_token(Some(&admin));
    s.put_agent("alice", &[]);
    s.put_channel(
        "web",
        &["alice"],
        json!({"sources": ["hr", "timesheet", "messenger", "mobile", "browser", "teams"]}),
    );
    let alice = s.create_token("alice-phone", "agent", Some("alice"));
    (s, alice)
}

/// `alice`'s token posts `body` to `/v1/signals`.
fn as_alice(s: &Server, alice: &str, body: &Value) -> openline_tests::http::Response {
    s.call_as(
        Some(alice),
        "POST",
        "/v1/signals",
        Some(body.to_string().as_bytes()),
    )
}

/// SPEC R35d: an agent's own token reports for itself what its sources declare — every
/// presence event (messenger, mobile, browser, a config-defined source) and, while
/// `plugins.timesheet.self_service` is on (the default), its timesheet — and no HR event:
/// those are 403 naming the source and the event, alone or in a batch, and change nothing.
#[test]
fn r35d_an_agent_reports_its_presence_but_never_its_hr_record() {
    let (s, alice) = alice_with_her_token("");
    s.signal("alice", "hr", "dismissed");
    let before = s.get("/v1/agents/alice/availability");
    let now = ts(s.now());
    let later = ts(plus(s.now(), 3600));
    let hr_events = [
        json!({"agent": "alice", "source": "hr", "event": "rehired"}),
        json!({"agent": "alice", "source": "hr", "event": "dismissed"}),
        json!({"agent": "alice", "source": "hr", "event": "leave", "id": "l1", "from": now, "to": later}),
        json!({"agent": "alice", "source": "hr", "event": "leave_cancelled", "id": "l1"}),
    ];
    for signal in &hr_events {
        let event = signal["event"].as_str().unwrap();
        assert_error(
            &as_alice(&s, &alice, signal),
            403,
            "forbidden",
            &["hr", event],
        );
    }
    // A batch is all or nothing: the presence signal before the HR one is not applied.
    let batch = json!([
        {"agent": "alice", "source": "messenger", "event": "open"},
        {"agent": "alice", "source": "hr", "event": "rehired"},
    ]);
    assert_error(
        &as_alice(&s, &alice, &batch),
        403,
        "forbidden",
        &["signal [1]", "rehired"],
    );
    assert_eq!(
        s.get("/v1/agents/alice/availability"),
        before,
        "nothing changed"
    );
    assert_eq!(s.get("/v1/agents/alice")["dismissed"], true);

    let presence = json!([
        {"agent": "alice", "source": "messenger", "event": "open"},
        {"agent": "alice", "source": "mobile", "event": "foreground"},
        {"agent": "alice", "source": "browser", "event": "activity"},
        {"agent": "alice", "source": "teams", "event": "available"},
        {"agent": "alice", "source": "timesheet", "event": "clock_in"},
    ]);
    let r = as_alice(&s, &alice, &presence);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"accepted": 5}));
    assert_eq!(s.verdict("alice", "web", "teams")["verdict"], "online");
}

/// SPEC R35d: with `plugins.timesheet.self_service = false` an agent's token may not report
/// its working time (403, nothing changes); its presence it still may.
#[test]
fn r35d_without_self_service_the_timesheet_is_not_the_agents_to_report() {
    let (s, alice) = alice_with_her_token("self_service = false\n");
    let before = s.get("/v1/agents/alice/availability");
    let clock_in = json!({"agent": "alice", "source": "timesheet", "event": "clock_in"});
    assert_error(
        &as_alice(&s, &alice, &clock_in),
        403,
        "forbidden",
        &["timesheet", "clock_in"],
    );
    assert_eq!(
        s.get("/v1/agents/alice/availability"),
        before,
        "nothing changed"
    );
    let open = json!({"agent": "alice", "source": "messenger", "event": "open"});
    assert_eq!(as_alice(&s, &alice, &open).status, 200);
    // An integration reports it instead.
    s.signal("alice", "timesheet", "clock_in");
}
