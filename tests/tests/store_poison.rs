//! SPEC R35a: no text value poisons the store. Control characters are refused with 400 naming
//! the field, on every endpoint that takes text (a NUL in a customer id once made every
//! archive commit on PostgreSQL fail and the server exit at each start); and a store that
//! already holds such a value (written before the check existed) still starts, archives and
//! restarts, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

const RETENTION: &str = "[retention]\nclosed_in_memory = \"1m\"\nclosed_conversations = \"1h\"\n";

/// Past `closed_in_memory`: a conversation closed before has been archived.
const PAST_MEMORY: i64 = 61;

#[test]
fn r35a_control_characters_are_refused_naming_the_field() {
    let mut s = Server::start();
    s.working(&["alice"]);
    s.put_channel("web", &["alice"], json!({}));
    s.serve("web", "c1", "alice");
    let watch = Watch::conversations(&["c1"]);
    let cases: [(&str, &str, &str, &[&str]); 9] = [
        (
            "POST",
            "/v1/channels/web/conversations",
            r#"{"id":"nulc","customer":"cu\u0000st"}"#,
            &["customer", "control"],
        ),
        (
            "POST",
            "/v1/channels/web/conversations",
            r#"{"id":"nulc","customer":"c","text":"hi\u0000"}"#,
            &["text", "control"],
        ),
        (
            "POST",
            "/v1/conversations/c1/messages",
            r#"{"from":"agent","agent":"alice","text":"bell \u0007"}"#,
            &["text", "control"],
        ),
        (
            "PUT",
            "/v1/agents/alice",
            r#"{"name":"Alice\u001b[31m","groups":[]}"#,
            &["name", "control"],
        ),
        (
            "PUT",
            "/v1/channels/web",
            r#"{"name":"Web\nchat","queue":["alice"]}"#,
            &["name", "control"],
        ),
        (
            "POST",
            "/v1/signals",
            r#"{"signals":[{"agent":"alice","source":"hr","event":"leave","id":"l\u0000","from":"2030-01-01T00:00:00Z","to":"2030-01-02T00:00:00Z"}]}"#,
            &["signals[0].id", "control"],
        ),
        (
            "POST",
            "/v1/webhooks",
            r#"{"url":"https://example.com/hook","events":["conversation.closed"],"secret":"0123456789abcdef\u0000"}"#,
            &["secret", "control"],
        ),
        (
            "POST",
            "/v1/tokens",
            r#"{"name":"ops\u0000","role":"admin"}"#,
            &["name", "control"],
        ),
        (
            "POST",
            "/v1/conversations/c1/transfer",
            r#"{"to":"alice\u0000"}"#,
            &["to", "control"],
        ),
    ];
    for (method, path, body, needles) in cases {
        assert_invalid(&mut s, watch, method, path, body, needles);
    }
    // A message may span lines and hold tabs.
    let said = s.expect(
        "POST",
        "/v1/conversations/c1/messages",
        Some(json!({"from": "agent", "agent": "alice", "text": "line one\n\tline two"})),
        &[200, 201],
    );
    assert!(s.is_running(), "{said}");
    assert!(
        s.get("/v1/webhooks")["webhooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    s.expect("GET", "/v1/conversations/nulc", None, &[404]);
}

/// A conversation whose customer id holds a NUL, put into the log as a server before the check
/// would have written it; the server then archives it, and starts again afterwards.
fn a_stored_nul_starts_and_archives(backend: &Backend) {
    let mut s = Server::builder().backend(backend).extra(RETENTION).start();
    s.working(&["alice"]);
    s.put_channel("web", &["alice"], json!({}));
    s.expect(
        "POST",
        "/v1/channels/web/conversations",
        Some(json!({"id": "nulc", "customer": "cuXst"})),
        &[201],
    );
    s.kill();
    // The log holds commands as JSON text: a NUL is the escape `\u0000` there.
    s.store_execute(
        "UPDATE openline_command_log SET command = replace(command, 'cuXst', 'cu\\u0000st')",
    );
    s.crash_and_restart();
    s.wait_serving();
    assert_eq!(s.conversation("nulc")["customer"], "cu\u{0}st");
    s.close("nulc");
    s.advance(PAST_MEMORY);
    // Archived: read back from the store, the NUL replaced by U+FFFD, the server still up.
    let archived = s.conversation("nulc");
    assert_eq!(archived["customer"], "cu\u{FFFD}st", "{archived}");
    assert_eq!(archived["state"], "closed", "{archived}");
    assert!(s.is_running(), "{}", s.log_tail());
    s.crash_and_restart();
    s.wait_serving();
    assert_eq!(s.conversation("nulc")["customer"], "cu\u{FFFD}st");
    s.new_conversation("web", "after");
    assert!(s.is_running(), "{}", s.log_tail());
}

backend_tests!(
    a_stored_nul_starts_and_archives: r35a_a_store_holding_a_nul_starts_and_archives_sqlite,
    r35a_a_store_holding_a_nul_starts_and_archives_postgres
);
