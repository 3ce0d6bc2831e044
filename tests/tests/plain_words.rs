//! Users read plain words (issue #20 item 16, SPEC R20: a clear message naming the problem):
//! the team's rule numbers ("R27", "SPEC R3") appear in no command-line help or output, in no
//! `/v1/plugins` description and nowhere in the example configuration file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use openline_tests::*;

/// The rule references in `text`: `SPEC`, or `R` + digits standing alone (`R3`, `R21a`).
fn rule_numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    for (at, window) in chars.windows(2).enumerate() {
        let starts_word = at == 0 || !chars[at - 1].is_alphanumeric();
        if starts_word && window[0] == 'R' && window[1].is_ascii_digit() {
            let end = chars[at..]
                .iter()
                .position(|c| !c.is_alphanumeric())
                .map_or(chars.len(), |n| at + n);
            found.push(chars[at..end].iter().collect());
        }
    }
    found.extend(text.match_indices("SPEC").map(|(_, m)| m.to_owned()));
    found
}

#[track_caller]
fn assert_plain(what: &str, text: &str) {
    let found = rule_numbers(text);
    assert!(
        found.is_empty(),
        "{what} shows rule numbers {found:?}:\n{text}"
    );
}

#[test]
fn the_rule_finder_finds_rule_numbers_and_nothing_else() {
    assert_eq!(rule_numbers("routes to nobody (SPEC R3)"), ["R3", "SPEC"]);
    assert_eq!(rule_numbers("(R21a) R2"), ["R21a", "R2"]);
    assert!(rule_numbers("RUST_LOG, HR, r2, FOR2, 127.0.0.1:8080").is_empty());
}

/// R20: `--help` of every command, and what the commands print, warnings and refusals
/// included, in plain words.
#[test]
fn r20_the_command_line_says_no_rule_numbers() {
    let dir = TempDir::new();
    let helps: [&[&str]; 9] = [
        &["--help"],
        &["serve", "--help"],
        &["check", "--help"],
        &["plugins", "--help"],
        &["token", "--help"],
        &["token", "create", "--help"],
        &["token", "list", "--help"],
        &["token", "revoke", "--help"],
        &["plugins"],
    ];
    for args in helps {
        let (ok, out) = run_cli(dir.path(), args, &[]);
        assert!(ok, "{args:?}: {out}");
        assert_plain(&format!("`openline {}`", args.join(" ")), &out);
    }
    // Warnings: a channel that can route to nobody, a network address without a token.
    let config = dir.path().join("warned.toml");
    fs::write(
        &config,
        "[server]\nlisten = \"0.0.0.0:0\"\n[[channels]]\nid = \"web\"\nname = \"Web\"\ncheck_availability = true\nsources = [\"hr\"]\n",
    )
    .unwrap();
    let (ok, out) = run_cli(
        dir.path(),
        &["check", "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(ok && out.contains("warning"), "{out}");
    assert_plain("the warnings of `openline check`", &out);
    let refused = serve_refused(
        dir.path(),
        "network.toml",
        "[server]\nlisten = \"0.0.0.0:0\"\n",
    );
    assert!(refused.contains("not a loopback address"), "{refused}");
    assert_plain("the refusal of `openline serve`", &refused);
}

/// R20: `/v1/plugins` describes sources, their settings and policies in plain words (plugin
/// crates' own descriptions included).
#[test]
fn r20_v1_plugins_says_no_rule_numbers() {
    let s = Server::start();
    let plugins = s.get("/v1/plugins");
    assert!(plugins.to_string().contains("browser"), "{plugins}");
    assert_plain("/v1/plugins", &plugins.to_string());
}

/// The example configuration, which users copy, explains itself without rule numbers.
#[test]
fn the_example_configuration_says_no_rule_numbers() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openline.example.toml");
    assert_plain("openline.example.toml", &fs::read_to_string(path).unwrap());
}

/// R31: the OpenAPI document, which integrators and their tools read, describes the API in
/// plain words too.
#[test]
fn r31_the_openapi_document_says_no_rule_numbers() {
    let s = Server::start();
    let document = s.get("/v1/openapi.json");
    assert!(document["paths"].is_object(), "{document}");
    assert_plain("/v1/openapi.json", &document.to_string());
}
