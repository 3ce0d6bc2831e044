//! The creation instants of tokens and webhooks read like every other instant of the API:
//! RFC 3339 in UTC, whole seconds (issue #20 item 18, SPEC R25, R30).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use openline_tests::*;

/// `YYYY-MM-DDTHH:MM:SSZ`, nothing more.
#[track_caller]
fn assert_whole_seconds(what: &str, value: &Value) {
    let text = value.as_str().unwrap_or_default();
    let shape: String = text
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(
        shape, "9999-99-99T99:99:99Z",
        "{what} is not RFC 3339 in whole seconds: {value}"
    );
    assert!(parse_ts(text).timestamp() > 0, "{what}: {text}");
}

/// R25: a token made with the command line (its own clock, with fractions of a second) is
/// listed by `GET /v1/tokens`, and shown by the CLI and on creation, in whole seconds.
#[test]
fn r25_tokens_are_listed_with_their_creation_in_whole_seconds() {
    let mut s = Server::start();
    let config = s.dir().join("cli.toml");
    fs::write(&config, format!("[store]\nurl = \"{}\"\n", s.store_url())).unwrap();
    let secret = cli_create_token(s.dir(), &config, "admin", "ops");
    s.set_token(Some(&secret));
    let created = s.expect(
        "POST",
        "/v1/tokens",
        Some(json!({"name": "robot", "role": "integration"})),
        &[201],
    );
    assert_whole_seconds("`created_at` of POST /v1/tokens", &created["created_at"]);
    let tokens = s.get("/v1/tokens")["tokens"].clone();
    assert_eq!(tokens.as_array().unwrap().len(), 2, "{tokens}");
    for token in tokens.as_array().unwrap() {
        assert_whole_seconds(&format!("token {}", token["name"]), &token["created_at"]);
    }
}

/// R30: a webhook subscription shows its creation in whole seconds, on creation and listed.
#[test]
fn r30_webhooks_show_their_creation_in_whole_seconds() {
    let s = Server::start();
    let body = json!({
        "url": "http://127.0.0.1:9/hook",
        "events": ["conversation.queued"],
        "secret": "a-webhook-secret-of-some-length",
    });
    let created = s.expect("POST", "/v1/webhooks", Some(body), &[201]);
    assert_whole_seconds("`created_at` of POST /v1/webhooks", &created["created_at"]);
    let id = created["id"].as_str().unwrap();
    assert_whole_seconds(
        "`created_at` of GET /v1/webhooks/{id}",
        &s.get(&format!("/v1/webhooks/{id}"))["created_at"],
    );
    for hook in s.get("/v1/webhooks")["webhooks"].as_array().unwrap() {
        assert_whole_seconds("`created_at` of GET /v1/webhooks", &hook["created_at"]);
    }
}
