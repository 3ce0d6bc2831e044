//! Authentication and roles (SPEC R25–R27), black-box: tokens made through the admin API,
//! then every role against every kind of endpoint, for its own agent and for another one,
//! compared with the R26 table written out here from the SPEC's text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::jwt::hs256 as jwt;
use openline_tests::*;

/// A server with a channel `web` whose queue is alice and a channel `mail` whose queue is
/// bob (availability not checked: each conversation is offered to that one agent), and one
/// token per role; the harness presents the admin token from then on.
struct World {
    s: Server,
    tokens: Vec<(&'static str, String)>,
    next: std::cell::Cell<u32>,
}

const ROLES: [&str; 4] = ["admin", "supervisor", "integration", "agent"];

impl World {
    fn new() -> Self {
        // The matrix sends well over a thousand requests a second as `root`: the rate limit
        // (SPEC R28) has its own test below.
        let mut s = Server::builder()
            .extra("[auth]\nrate_limit_per_second = 1000000\n")
            .start();
        let admin = s.create_token("root", "admin", None);
        s.set_token(Some(&admin));
        for agent in ["alice", "bob"] {
            s.put_agent(agent, &[]);
        }
        s.put_channel("web", &["alice"], json!({"check_availability": false}));
        s.put_channel("mail", &["bob"], json!({"check_availability": false}));
        let tokens = vec![
            ("admin", admin),
            ("supervisor", s.create_token("sup", "supervisor", None)),
            ("integration", s.create_token("int", "integration", None)),
            (
                "agent",
                s.create_token("alice-phone", "agent", Some("alice")),
            ),
        ];
        Self {
            s,
            tokens,
            next: std::cell::Cell::new(0),
        }
    }

    fn token(&self, role: &str) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// A fresh conversation offered to `agent` (alice on `web`, bob on `mail`).
    fn offered_to(&self, agent: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        let id = format!("c{n}");
        let channel = if agent == "alice" { "web" } else { "mail" };
        assert_offered(&self.s.new_conversation(channel, &id), &[agent]);
        id
    }

    /// A fresh conversation accepted by `agent`.
    fn held_by(&self, agent: &str) -> String {
        let id = self.offered_to(agent);
        self.s.accept(&id, agent);
        id
    }
}

/// A request of the matrix: what it is, method, path, body, the roles that may send it.
type Case = (
    String,
    &'static str,
    String,
    Option<Value>,
    &'static [&'static str],
);

/// The requests of the matrix and who may send each (SPEC R26), for `target` the agent it
/// acts for or reads about (`alice` is the agent token's own agent).
fn requests(w: &World, target: &str) -> Vec<Case> {
    const ALL: &[&str] = &["admin", "supervisor", "integration", "agent"];
    const STAFF: &[&str] = &["admin", "supervisor", "integration"];
    const ADMIN: &[&str] = &["admin"];
    const SUPERVISING: &[&str] = &["admin", "supervisor"];
    const ACTING: &[&str] = &["admin", "integration"];
    let own = target == "alice";
    let own_or = |roles: &'static [&'static str]| -> &'static [&'static str] {
        if own { ALL } else { roles }
    };
    // What the agent role may do for its own agent only.
    let agent_scoped_read = own_or(STAFF);
    let agent_scoped_act = if own {
        &["admin", "integration", "agent"][..]
    } else {
        ACTING
    };
    let offered = w.offered_to(target);
    let held = w.held_by(target);
    let held_too = w.held_by(target);
    vec![
        (
            "list agents".into(),
            "GET",
            "/v1/agents".into(),
            None,
            STAFF,
        ),
        (
            "every agent's availability (the dashboard's read)".into(),
            "GET",
            "/v1/availability".into(),
            None,
            STAFF,
        ),
        (
            "per-channel counts of the last hour".into(),
            "GET",
            "/v1/stats".into(),
            None,
            STAFF,
        ),
        (
            "read an agent".into(),
            "GET",
            format!("/v1/agents/{target}"),
            None,
            agent_scoped_read,
        ),
        (
            "an agent's availability".into(),
            "GET",
            format!("/v1/agents/{target}/availability"),
            None,
            agent_scoped_read,
        ),
        (
            "an agent's conversations".into(),
            "GET",
            format!("/v1/agents/{target}/conversations"),
            None,
            agent_scoped_read,
        ),
        (
            "a conversation".into(),
            "GET",
            format!("/v1/conversations/{offered}"),
            None,
            agent_scoped_read,
        ),
        (
            "conversations of an agent".into(),
            "GET",
            format!("/v1/conversations?agent={target}"),
            None,
            agent_scoped_read,
        ),
        ("channels".into(), "GET", "/v1/channels".into(), None, STAFF),
        (
            "a queue".into(),
            "GET",
            "/v1/channels/web/queue".into(),
            None,
            STAFF,
        ),
        ("the clock".into(), "GET", "/v1/clock".into(), None, STAFF),
        ("plugins".into(), "GET", "/v1/plugins".into(), None, STAFF),
        ("metrics".into(), "GET", "/metrics".into(), None, STAFF),
        ("whoami".into(), "GET", "/v1/whoami".into(), None, ALL),
        (
            "a signal".into(),
            "POST",
            "/v1/signals".into(),
            Some(json!({"agent": target, "source": "browser", "event": "activity"})),
            agent_scoped_act,
        ),
        (
            "accept".into(),
            "POST",
            format!("/v1/conversations/{offered}/accept"),
            Some(json!({"agent": target})),
            agent_scoped_act,
        ),
        (
            "a message".into(),
            "POST",
            format!("/v1/conversations/{held}/messages"),
            Some(json!({"from": "agent", "agent": target})),
            agent_scoped_act,
        ),
        (
            "a customer's message".into(),
            "POST",
            format!("/v1/conversations/{held}/messages"),
            Some(json!({"from": "customer"})),
            ACTING,
        ),
        (
            "open".into(),
            "POST",
            "/v1/channels/web/conversations".into(),
            Some(json!({"customer": "q"})),
            ACTING,
        ),
        (
            "transfer".into(),
            "POST",
            format!("/v1/conversations/{held_too}/transfer"),
            Some(json!({})),
            &["admin", "supervisor", "integration"],
        ),
        (
            "close".into(),
            "POST",
            format!("/v1/conversations/{held}/close"),
            None,
            &["admin", "supervisor", "integration"],
        ),
        (
            "switch a channel's check".into(),
            "PATCH",
            "/v1/channels/mail".into(),
            Some(json!({"check_availability": false, "max_chats": null})),
            SUPERVISING,
        ),
        (
            "rename a channel".into(),
            "PATCH",
            "/v1/channels/mail".into(),
            Some(json!({"name": "Mail"})),
            ADMIN,
        ),
        (
            "put an agent".into(),
            "PUT",
            "/v1/agents/zed".into(),
            Some(json!({"name": "Zed"})),
            ADMIN,
        ),
        (
            "put a group".into(),
            "PUT",
            "/v1/groups/night".into(),
            Some(json!({})),
            ADMIN,
        ),
        (
            "put a channel".into(),
            "PUT",
            "/v1/channels/spare".into(),
            Some(json!({"name": "Spare", "queue": []})),
            ADMIN,
        ),
        (
            "advance the clock".into(),
            "POST",
            "/v1/clock/advance".into(),
            Some(json!({"seconds": 1})),
            ADMIN,
        ),
        (
            "list tokens".into(),
            "GET",
            "/v1/tokens".into(),
            None,
            ADMIN,
        ),
        (
            "the audit trail".into(),
            "GET",
            "/v1/audit".into(),
            None,
            ADMIN,
        ),
        (
            "list webhooks".into(),
            "GET",
            "/v1/webhooks".into(),
            None,
            ADMIN,
        ),
        (
            // A webhook makes the server post where its creator says: admins only (R30).
            "create a webhook".into(),
            "POST",
            "/v1/webhooks".into(),
            Some(
                json!({"url": "http://127.0.0.1:9/hook", "events": ["conversation.queued"],
                "secret": "0123456789abcdef"}),
            ),
            ADMIN,
        ),
        (
            "create a token".into(),
            "POST",
            "/v1/tokens".into(),
            Some(json!({"name": format!("t-{target}-{}", w.next.get()), "role": "supervisor"})),
            ADMIN,
        ),
    ]
}

/// SPEC R26: for each role and each kind of endpoint, for its own agent and another: an
/// allowed request is not refused (it may still be a 409 for the conversation's state), a
/// forbidden one is 403 `forbidden` and changes nothing.
#[test]
fn r26_every_role_against_every_endpoint_matches_the_table() {
    let w = World::new();
    for target in ["alice", "bob"] {
        for role in ROLES {
            for (what, method, path, body, allowed) in requests(&w, target) {
                let token = w.token(role);
                let before = snapshot(&w.s, &[], &[]);
                let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
                let r = w.s.call_as(Some(token), method, &path, bytes.as_deref());
                let label = format!("{role} → {what} ({method} {path}, for {target})");
                if allowed.contains(&role) {
                    assert!(
                        ![401, 403].contains(&r.status),
                        "{label}: refused with {} {}",
                        r.status,
                        r.text()
                    );
                } else {
                    assert_error(&r, 403, "forbidden", &[]);
                    assert_eq!(
                        snapshot(&w.s, &[], &[]),
                        before,
                        "{label}: changed something"
                    );
                }
            }
        }
    }
}

/// SPEC R25: without a token, with a wrong one, or a revoked one: 401 `unauthorized` (with
/// `WWW-Authenticate: Bearer`) and nothing changes; health and readiness need none.
#[test]
fn r25_missing_wrong_and_revoked_tokens_are_refused() {
    let w = World::new();
    let s = &w.s;
    let temp = s.create_token("temp", "admin", None);
    let put = br#"{"name": "Eve"}"#;
    let cases = [
        ("no token", None),
        (
            "a wrong token",
            Some("olt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("not a bearer token", Some("")),
    ];
    for (what, token) in cases {
        let r = s.call_as(token, "PUT", "/v1/agents/eve", Some(put));
        assert_error(&r, 401, "unauthorized", &[]);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
    }
    let basic = openline_tests::http::send_with(
        s.port,
        "GET",
        "/v1/agents",
        None,
        &[("Authorization", "Basic cm9vdDpyb290")],
    )
    .unwrap();
    assert_error(&basic, 401, "unauthorized", &["Bearer"]);
    s.call_as(Some(&temp), "GET", "/v1/whoami", None);
    s.expect("DELETE", "/v1/tokens/temp", None, &[204]);
    let revoked = s.call_as(Some(&temp), "PUT", "/v1/agents/eve", Some(put));
    assert_error(&revoked, 401, "unauthorized", &["revoked"]);
    s.expect("GET", "/v1/agents/eve", None, &[404]);
    for open in ["/healthz", "/readyz", "/v1/openapi.json"] {
        assert_eq!(s.call_as(None, "GET", open, None).status, 200, "{open}");
    }
    let listed = s.get("/v1/tokens");
    assert!(
        !listed.to_string().contains("olt_"),
        "no secret listed: {listed}"
    );
    assert_eq!(
        s.get("/v1/whoami"),
        json!({"name": "root", "role": "admin", "agent": null})
    );
}

/// SPEC R27: a loopback server with no token serves the local caller (to loopback host names
/// only: `server/tests/errors.rs`); from the first token on, every request authenticates.
#[test]
fn r27_local_mode_ends_with_the_first_token() {
    let s = Server::start();
    assert_eq!(
        s.get("/v1/whoami"),
        json!({"name": "local", "role": "admin", "agent": null})
    );
    let admin = s.create_token("root", "admin", None);
    let r = s.call_as(None, "GET", "/v1/agents", None);
    assert_error(&r, 401, "unauthorized", &[]);
    assert_eq!(
        s.call_as(Some(&admin), "GET", "/v1/agents", None).status,
        200
    );
}

/// SPEC R26: an agent's event stream carries its own agent's events only.
#[test]
fn r26_an_agents_event_stream_is_its_own() {
    let w = World::new();
    let own =
        w.s.call_as(Some(w.token("agent")), "GET", "/v1/events?agent=bob", None);
    assert_error(&own, 403, "forbidden", &[]);
}

/// SPEC R28: a token that sends more than `auth.rate_limit_per_second` requests in a second
/// gets 429 `rate_limited`; another token is not slowed.
#[test]
fn r28_requests_beyond_the_rate_get_429() {
    let mut s = Server::builder()
        .env("OPENLINE__AUTH__RATE_LIMIT_PER_SECOND", "2")
        .start();
    let admin = s.create_token("root", "admin", None);
    s.set_token(Some(&admin));
    let busy = s.create_token("busy", "integration", None);
    let calm = s.create_token("calm", "integration", None);
    s.set_token(Some(&calm));
    let statuses: Vec<u16> = (0..30)
        .map(|_| s.call_as(Some(&busy), "GET", "/v1/agents", None).status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let limited = (0..20)
        .map(|_| s.call_as(Some(&busy), "GET", "/v1/agents", None))
        .find(|r| r.status == 429)
        .expect("still limited");
    assert_error(&limited, 429, "rate_limited", &["busy"]);
    assert_eq!(
        s.call("GET", "/v1/agents", None).status,
        200,
        "another token"
    );
}

/// SPEC R27: a page of a listed origin may call the API from a browser (the preflight is
/// answered, the answer carries the CORS headers); any other origin gets none, so the
/// browser keeps it out.
#[test]
fn r27_cors_only_for_listed_origins() {
    let s = Server::builder()
        .server_setting("cors_origins = [\"https://helpdesk.example.com\"]")
        .start();
    let preflight = |origin: &str| {
        openline_tests::http::send_with(
            s.port,
            "OPTIONS",
            "/v1/signals",
            None,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
        )
        .unwrap()
    };
    let listed = preflight("https://helpdesk.example.com");
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://helpdesk.example.com")
    );
    assert!(
        listed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{:?}",
        listed.headers
    );
    let foreign = preflight("https://evil.example.com");
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let read = openline_tests::http::send_with(
        s.port,
        "GET",
        "/v1/agents",
        None,
        &[("Origin", "https://evil.example.com")],
    )
    .unwrap();
    assert_eq!(read.header("access-control-allow-origin"), None);
    // Without the setting, no origin at all.
    let plain = Server::start();
    let r = openline_tests::http::send_with(
        plain.port,
        "GET",
        "/v1/agents",
        None,
        &[("Origin", "https://helpdesk.example.com")],
    )
    .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), None);
}

/// SPEC R25, R26: with `[auth] jwt_hs256_secret`, a JWT signed with it authenticates as its
/// `sub` with its `role` (an agent's JWT acts for that agent only); an expired one, one
/// signed with another secret, or one with `alg: none` is 401 and changes nothing. A JWT
/// key also ends the local mode: no credential is 401.
#[test]
fn r25_jwts_signed_with_the_configured_key_authenticate() {
    let secret = "a-secret-of-at-least-thirty-two-bytes!";
    let s = Server::builder()
        .extra(&format!("[auth]\njwt_hs256_secret = \"{secret}\"\n"))
        .start();
    let admin = jwt(secret, "ops", "admin", 300);
    let who = s.call_as(Some(&admin), "GET", "/v1/whoami", None);
    assert_eq!(
        who.json(),
        json!({"name": "ops", "role": "admin", "agent": null})
    );
    let put = |token: &str, id: &str| {
        let body = format!("{{\"name\": \"{id}\"}}");
        s.call_as(
            Some(token),
            "PUT",
            &format!("/v1/agents/{id}"),
            Some(body.as_bytes()),
        )
    };
    assert_eq!(put(&admin, "alice").status, 201);
    assert_eq!(put(&admin, "bob").status, 201);
    let alice = jwt(secret, "alice", "agent", 300);
    let signal = |agent: &str| {
        let body = json!({"agent": agent, "source": "browser", "event": "activity"}).to_string();
        s.call_as(Some(&alice), "POST", "/v1/signals", Some(body.as_bytes()))
    };
    assert_eq!(signal("alice").status, 200);
    assert_error(&signal("bob"), 403, "forbidden", &["own agent"]);
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let admin_payload = admin.split('.').nth(1).unwrap();
    let unsigned = format!("{none_header}.{admin_payload}.");
    for (what, token) in [
        ("expired", jwt(secret, "ops", "admin", -120)),
        (
            "another secret",
            jwt("another-secret-of-thirty-two-bytes!!", "ops", "admin", 300),
        ),
        ("alg none", unsigned),
    ] {
        let r = put(&token, "eve");
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }
    assert_eq!(s.call_as(None, "GET", "/v1/agents", None).status, 401);
    s.call_as(Some(&admin), "GET", "/v1/agents/eve", None);
    assert_eq!(
        s.call_as(Some(&admin), "GET", "/v1/agents/eve", None)
            .status,
        404,
        "nothing changed"
    );
}

/// SPEC R27: on a network address with no token and no JWT key the server refuses to start
/// and says how to fix it; once a token exists in the store, it starts.
#[test]
fn r27_a_network_server_without_a_way_to_authenticate_refuses_to_start() {
    let dir = TempDir::new();
    let port = openline_tests::server::free_port();
    let config = format!(
        "[server]\nlisten = \"0.0.0.0:{port}\"\n[store]\nurl = \"sqlite://{}\"\n",
        dir.path().join("openline.db").display()
    );
    let refused = serve_refused(dir.path(), "openline.toml", &config);
    assert!(refused.contains("not a loopback address"), "{refused}");
    assert!(refused.contains("openline token create"), "{refused}");
    let path = dir.path().join("openline.toml");
    let (created, out) = run_cli(
        dir.path(),
        &[
            "token",
            "create",
            "--config",
            path.to_str().unwrap(),
            "--role",
            "admin",
            "--name",
            "ops",
        ],
        &[],
    );
    assert!(created, "{out}");
    let token = out.lines().last().unwrap().trim().to_owned();
    let mut serving = std::process::Command::new(openline_tests::server::binary())
        .args(["serve", "--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answered = loop {
        let bearer = format!("Bearer {token}");
        let r = openline_tests::http::send_with(
            port,
            "GET",
            "/v1/whoami",
            None,
            &[("Authorization", bearer.as_str())],
        );
        if let Ok(r) = r {
            break Some(r);
        }
        if std::time::Instant::now() > deadline || serving.try_wait().unwrap().is_some() {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = serving.kill();
    let _ = serving.wait();
    let answered = answered.expect("the server started once a token existed");
    assert_eq!(answered.json()["name"], "ops");
}

/// SPEC R28, credentials of different kinds kept apart: a JWT whose subject is the name of an
/// API token has a rate-limit bucket of its own, and is recorded as `jwt:<subject>` — an
/// admin JWT with `sub: "cli"` is not taken for the command line, nor one with `sub: "ops"`
/// for the token `ops`, in the audit log and in conversation history.
#[test]
fn r28_a_jwt_subject_is_never_confused_with_a_token_or_the_command_line() {
    let secret = "a-secret-of-at-least-thirty-two-bytes!";
    let mut s = Server::builder()
        .extra(&format!("[auth]\njwt_hs256_secret = \"{secret}\"\n"))
        .env("OPENLINE__AUTH__RATE_LIMIT_PER_SECOND", "3")
        .start();
    let as_cli = jwt(secret, "cli", "admin", 300);
    s.set_token(Some(&as_cli));
    let ops_token = s.create_token("ops", "admin", None);
    s.put_channel("web", &[], json!({}));
    let audit = s.get("/v1/audit");
    let bys: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["by"].as_str().unwrap())
        .collect();
    assert_eq!(bys, ["jwt:cli", "jwt:cli"], "{audit}");

    // No token may take the name openline records the command line (or another of its own
    // callers) by.
    let root = jwt(secret, "root", "admin", 300);
    for reserved in ["cli", "config", "local"] {
        let body = json!({"name": reserved, "role": "admin"}).to_string();
        let r = s.call_as(Some(&root), "POST", "/v1/tokens", Some(body.as_bytes()));
        assert_error(&r, 400, "invalid_request", &[reserved, "reserved"]);
    }

    let ops_jwt = jwt(secret, "ops", "admin", 300);
    s.set_token(Some(&ops_jwt));
    s.new_conversation("web", "c1");
    let opened_by = s.conversation("c1")["history"][0]["by"].clone();
    assert_eq!(opened_by, "jwt:ops");

    // The token `ops` spends its whole rate; the JWT of subject `ops` is not slowed by it.
    let limited = (0..30)
        .map(|_| s.call_as(Some(&ops_token), "GET", "/v1/agents", None))
        .find(|r| r.status == 429)
        .expect("the token is limited");
    assert_error(&limited, 429, "rate_limited", &["ops"]);
    let r = s.call_as(Some(&ops_jwt), "GET", "/v1/agents", None);
    assert_eq!(r.status, 200, "the JWT has its own bucket: {}", r.text());
}
