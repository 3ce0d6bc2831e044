//! The agent console and the presence script as files (SPEC R25, R33; API.md "Pages"):
//! served without a token even when tokens exist (the page asks for one, the script is given
//! one), with their content types, and with the hooks external browser tests rely on. What
//! they do in a browser is checked by `.ci/console-check` (headless Chromium).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::http::{Response, send_with};
use openline_tests::*;

fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    send_with(s.port, "GET", path, None, headers).unwrap()
}

/// A server that requires tokens: one exists.
fn protected() -> Server {
    let mut s = Server::start();
    let admin = s.create_token("root", "admin", None);
    s.set_token(Some(&admin));
    s
}

#[test]
fn r25_r33_the_console_and_presence_script_need_no_token() {
    let s = protected();
    assert_eq!(
        get(&s, "/v1/whoami", &[]).status,
        401,
        "the API does need one"
    );
    for path in ["/agent", "/presence.js"] {
        for headers in [&[][..], &[("Authorization", "Bearer not-a-token")][..]] {
            let r = get(&s, path, headers);
            assert_eq!(r.status, 200, "{path} {headers:?}: {}", r.text());
            assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
        }
    }
}

#[test]
fn r33_the_console_is_html_under_a_strict_policy_with_the_fixed_hooks() {
    let s = protected();
    let r = get(&s, "/agent", &[]);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = r.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self' 'sha256-",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let page = r.text();
    // API.md "Pages (R32, R33)": the sign-in form, offers with their two buttons, held
    // conversations; the page reports presence with the same script as any other app.
    for hook in [
        r#"<input data-testid="token""#,
        r#"<button data-testid="sign-in""#,
        r#""data-offer""#,
        r#""data-held""#,
        r#"setAttribute("data-action", action)"#,
        r#"button("accept", "#,
        r#"button("decline", "#,
        r#"<script src="/presence.js"></script>"#,
        "sessionStorage",
    ] {
        assert!(page.contains(hook), "the console lacks {hook}");
    }
}

#[test]
fn r33_presence_js_is_javascript_that_reports_browser_activity_and_close() {
    let s = protected();
    let r = get(&s, "/presence.js", &[]);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("cross-origin"),
        "other sites' pages include it"
    );
    let script = r.text();
    for needle in [
        "window.OpenlinePresence",
        "data-token",
        r#"source: "browser""#,
        r#""activity""#,
        r#""close""#,
        "pagehide",
        "keepalive",
        "/v1/signals",
    ] {
        assert!(script.contains(needle), "presence.js lacks {needle}");
    }
}

/// Where `text` cites a rule of the project's specification: `SPEC`, `API.md`, or a rule
/// number such as `R1`, `R14a` (an `R` and digits, not inside a word).
fn rule_numbers(text: &str) -> Vec<String> {
    let mut found: Vec<String> = ["SPEC", "API.md"]
        .into_iter()
        .filter(|word| text.contains(word))
        .map(str::to_owned)
        .collect();
    let bytes = text.as_bytes();
    let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    for (i, _) in text.match_indices('R') {
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let mut end = i + 1 + digits;
        if bytes.get(end).is_some_and(u8::is_ascii_lowercase) {
            end += 1; // a sub-rule: R14a
        }
        if digits > 0 && !word(i.checked_sub(1).and_then(|j| bytes.get(j))) && !word(bytes.get(end))
        {
            found.push(text[i..end].to_owned());
        }
    }
    found
}

/// SPEC R32, R33 (issue #20 item 16): the pages speak plain words — no rule numbers of the
/// project's specification, neither in what they show nor in what a user reads in their source.
#[test]
fn r32_r33_the_pages_cite_no_rule_numbers() {
    let s = Server::start();
    for path in ["/", "/agent", "/presence.js"] {
        let r = get(&s, path, &[]);
        assert_eq!(r.status, 200, "{path}");
        let found = rule_numbers(&r.text());
        assert!(found.is_empty(), "{path} cites {found:?}");
    }
    assert_eq!(
        rule_numbers("a check (R1) and SPEC R14a"),
        ["SPEC", "R1", "R14a"]
    );
    assert!(
        rule_numbers("ROUTE R2D2x HR2 Rx").is_empty(),
        "{:?}",
        rule_numbers("ROUTE R2D2x HR2 Rx")
    );
}
