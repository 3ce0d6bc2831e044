//! The routes of the server's router, read from its source (`fn app` in
//! `server/src/http/mod.rs`): what the OpenAPI document must cover (SPEC R31). Read from the
//! source rather than listed here, so that a route added to the router without documentation
//! fails the test that compares the two.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The HTTP methods axum's `routing` functions are named after.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// The router's source file.
pub fn router_source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/src/http/mod.rs")
}

/// Every `(METHOD, path)` the router of `fn app` serves, paths as axum writes them
/// (`/v1/agents/{id}`), sorted.
pub fn router_routes() -> BTreeSet<(String, String)> {
    let path = router_source();
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_app(&source)
}

/// The routes of `pub fn app` in `source` (see [`router_routes`]).
pub fn parse_app(source: &str) -> BTreeSet<(String, String)> {
    let start = source
        .find("pub fn app(")
        .expect("`pub fn app(` in the router's source");
    let body = balanced(&source[start..], '{', '}').expect("the body of `fn app`");
    assert!(
        !body.contains(".merge("),
        "`fn app` merges another router: teach tests/src/routes.rs to read its routes too"
    );
    // Sub-routers: `let NAME = Router::new() … ;`, mounted with `.nest("/prefix", NAME)`.
    let mut prefixes: BTreeMap<String, String> = BTreeMap::new();
    let mut rest = body;
    while let Some(at) = rest.find(".nest(") {
        let args = balanced(&rest[at..], '(', ')').expect("`.nest(…)` arguments");
        let (prefix, name) = args.split_once(',').expect("`.nest(prefix, router)`");
        prefixes.insert(name.trim().to_owned(), string_literal(prefix));
        rest = &rest[at + 1..];
    }
    let mut routes = BTreeSet::new();
    for statement in body.split(';') {
        let prefix = statement
            .trim()
            .strip_prefix("let ")
            .and_then(|s| s.split_once('='))
            .and_then(|(name, _)| prefixes.get(name.trim()))
            .cloned()
            .unwrap_or_default();
        let mut rest = statement;
        while let Some(at) = rest.find(".route(") {
            let args = balanced(&rest[at..], '(', ')').expect("`.route(…)` arguments");
            let (path, handlers) = args.split_once(',').expect("`.route(path, handlers)`");
            let path = format!("{prefix}{}", string_literal(path));
            let methods = methods_in(handlers);
            assert!(
                !methods.is_empty(),
                "no method for route {path}: {handlers}"
            );
            for method in methods {
                routes.insert((method, path.clone()));
            }
            rest = &rest[at + 1..];
        }
    }
    routes
}

/// The methods named by a handler expression such as
/// `put(channels::put).patch(channels::patch).get(channels::get)`.
fn methods_in(handlers: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in handlers.match_indices('(') {
        let before = &handlers[..at];
        let word_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &before[word_start..];
        if METHODS.contains(&word) {
            found.push(word.to_ascii_uppercase());
        }
    }
    found
}

/// The text between the first `open` in `text` and its matching `close`.
fn balanced(text: &str, open: char, close: char) -> Option<&str> {
    let start = text.find(open)?;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(&text[start + 1..start + i]);
            }
        }
    }
    None
}

/// The content of a string literal such as `"/v1"` (surrounding space allowed).
fn string_literal(text: &str) -> String {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("expected a string literal, got `{text}`"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_routes_and_chained_methods() {
        let source = r#"
            pub fn app(state: AppState) -> Router {
                let v1 = Router::new()
                    .route("/agents", get(agents::list))
                    .route(
                        "/channels/{id}",
                        put(channels::put).patch(channels::patch).get(channels::get),
                    )
                    .route("/tokens/{name}", axum::routing::delete(tokens::revoke));
                Router::new()
                    .nest("/v1", v1)
                    .route("/healthz", get(ops::healthz))
                    .fallback(not_found)
            }
            fn other() { Router::new().route("/not-app", get(x)); }
        "#;
        let routes: Vec<(String, String)> = parse_app(source).into_iter().collect();
        let expected = [
            ("DELETE", "/v1/tokens/{name}"),
            ("GET", "/healthz"),
            ("GET", "/v1/agents"),
            ("GET", "/v1/channels/{id}"),
            ("PATCH", "/v1/channels/{id}"),
            ("PUT", "/v1/channels/{id}"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()));
        assert_eq!(routes, expected);
    }
}
