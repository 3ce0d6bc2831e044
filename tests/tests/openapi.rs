//! `GET /v1/openapi.json` (SPEC R31, API.md "OpenAPI"): an OpenAPI 3.1 document, served without
//! authentication, that documents every route of the router with every method it serves, and
//! nothing the server does not serve. The routes come from the router's source
//! (`openline_tests::routes`), so a route added without documentation fails here. What the
//! server answers is checked against the document by `.ci/openapi-check` (schemathesis).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use openline_tests::routes::router_routes;
use openline_tests::*;

/// The document, fetched without a token from a server that requires one.
fn document(s: &Server) -> Value {
    let r = s.call_as(None, "GET", "/v1/openapi.json", None);
    assert_eq!(r.status, 200, "GET /v1/openapi.json: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type {:?}",
        r.header("content-type")
    );
    serde_json::from_slice(&r.body).expect("the document is JSON")
}

/// Every `(METHOD, path)` the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("`paths`");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|key| {
                    [
                        "get", "put", "post", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&key.as_str())
                })
                .map(move |method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

fn secured_server() -> Server {
    let mut s = Server::start();
    let admin = s.create_token("admin", "admin", None);
    s.set_token(Some(&admin));
    s
}

#[test]
fn r31_the_document_is_openapi_3_1_and_needs_no_token() {
    let s = secured_server();
    assert_eq!(
        s.call_as(None, "GET", "/v1/agents", None).status,
        401,
        "the server requires a token"
    );
    let doc = document(&s);
    let version = doc["openapi"].as_str().expect("`openapi`");
    assert!(version.starts_with("3.1"), "openapi {version}");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let again = s.call_as(None, "GET", "/v1/openapi.json", None);
    assert!(
        serde_json::from_slice::<Value>(&again.body).is_ok_and(|again| again == doc),
        "the same document every time"
    );
}

#[test]
fn r31_every_route_of_the_router_is_documented_and_nothing_else() {
    let routes = router_routes();
    assert!(
        routes.len() >= 30,
        "read only {} routes from the router's source: {routes:#?}",
        routes.len()
    );
    let s = secured_server();
    let doc = document(&s);
    let documented = documented(&doc);
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes of `app()` without documentation: {missing:?}\n\
         documented but not routed: {extra:?}\n\
         (add `#[utoipa::path]` to the handler and list it in `ApiDoc`, \
         server/src/http/openapi.rs)"
    );
}

#[test]
fn r31_every_documented_operation_is_served_with_its_errors_documented() {
    let s = secured_server();
    let doc = document(&s);
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
        let responses = operation["responses"].as_object().expect("responses");
        let error_ref = |status: &str| -> String {
            let response = &responses[status];
            response["$ref"].as_str().map_or_else(
                || response["content"]["application/json"]["schema"]["$ref"].to_string(),
                |name| {
                    let name = name.trim_start_matches("#/components/responses/");
                    doc["components"]["responses"][name]["content"]["application/json"]["schema"]
                        ["$ref"]
                        .to_string()
                },
            )
        };
        for (status, _) in responses
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
        {
            assert_eq!(
                error_ref(status),
                "\"#/components/schemas/ErrorBody\"",
                "{method} {path} {status}: errors have the error body"
            );
        }
        // The live server serves it: no 405, no "no route" 404.
        let url = path
            .replace("{id}", "openapi-probe")
            .replace("{name}", "openapi-probe");
        // The event stream never ends: a parameter it refuses answers at once instead.
        let url = if path == "/v1/events" {
            format!("{url}?openapi-probe=1")
        } else {
            url
        };
        let r = s.call(&method, &url, None);
        assert_ne!(r.status, 405, "{method} {url}: {}", r.text());
        assert!(
            !(r.status == 404 && r.text().contains("no route")),
            "{method} {url}: {}",
            r.text()
        );
        let status = r.status.to_string();
        assert!(
            responses.contains_key(&status),
            "{method} {url} answered {status}, which the document does not list: {}",
            r.text()
        );
    }
}

/// Found while fuzzing: at the end of the year 9999 (as far as the clock goes, SPEC R24d) a
/// verdict's `until` fell in the year 10000, written `+10000-01-01T…`, which is no RFC 3339
/// date-time. Such an instant never comes: `until` is null.
#[test]
fn r31_instants_stay_rfc_3339_at_the_end_of_time() {
    let s = Server::start();
    let now = parse_ts(s.get("/v1/clock")["now"].as_str().unwrap());
    let end = parse_ts("9999-12-31T23:58:00Z");
    let seconds = (end - now).num_seconds();
    s.expect(
        "POST",
        "/v1/clock/advance",
        Some(json!({ "seconds": seconds })),
        &[200],
    );
    s.put_agent("alice", &[]);
    s.put_channel("web", &["alice"], json!({"sources": ["mobile"]}));
    s.mobile_in_background("alice");
    let availability = s.get("/v1/agents/alice/availability");
    let verdict = &availability["channels"][0]["verdicts"][0];
    assert_eq!(verdict["verdict"], "online", "{availability}");
    assert_eq!(verdict["until"], Value::Null, "{availability}");
    assert_eq!(s.get("/v1/clock")["now"], "9999-12-31T23:58:00Z");
}
