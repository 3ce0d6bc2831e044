//! SPEC R35b, black-box: a query parameter an endpoint does not know is refused with 400
//! `invalid_request` naming it, on every route of the router (read from its source, so a
//! route added later is walked too), and the request changes nothing. The pages, which
//! browsers and caches load with query strings of their own, ignore them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::routes::router_routes;
use openline_tests::*;

/// The pages: static files for browsers (docs/api.md "Conventions").
const PAGES: [&str; 3] = ["/", "/agent", "/presence.js"];

/// SPEC R35b: every method of every route (`{id}` filled with an id that may not exist)
/// answers `?sort=name` with 400 naming `sort` — before it looks for the thing, reads a body
/// or answers with what it has.
#[test]
fn r35b_every_route_refuses_a_query_parameter_it_does_not_know() {
    let s = Server::start();
    let routes = router_routes();
    assert!(routes.len() > 30, "the router's routes: {routes:?}");
    let mut walked = 0;
    for (method, route) in routes {
        if PAGES.contains(&route.as_str()) {
            continue;
        }
        let path = route.replace("{id}", "x1").replace("{name}", "x1");
        let r = s.call_raw(&method, &format!("{path}?sort=name"), None);
        assert_eq!(
            r.status,
            400,
            "{method} {path}?sort=name: {} {}",
            r.status,
            r.text()
        );
        assert_error(&r, 400, "invalid_request", &["sort"]);
        walked += 1;
    }
    assert!(walked > 30);
}

/// SPEC R35b: the message names every unknown parameter and what the endpoint takes; a
/// refused change is not made; known parameters keep working beside the check.
#[test]
fn r35b_the_refusal_names_the_parameters_and_changes_nothing() {
    let s = Server::start();
    let r = s.call_raw("GET", "/v1/conversations?limit=5&chanel=web&x=1", None);
    assert_error(&r, 400, "invalid_request", &["chanel", "=x", "channel"]);

    let put = s.call(
        "PUT",
        "/v1/agents/alice?dry_run=true",
        Some(&json!({"name": "Alice"})),
    );
    assert_error(&put, 400, "invalid_request", &["dry_run"]);
    s.expect("GET", "/v1/agents/alice", None, &[404]);

    for listed in [
        "/v1/agents",
        "/v1/channels",
        "/v1/clock",
        "/v1/plugins",
        "/v1/stats",
    ] {
        let r = s.call_raw("GET", &format!("{listed}?page=2"), None);
        assert_error(&r, 400, "invalid_request", &["page"]);
        assert_eq!(s.call_raw("GET", listed, None).status, 200, "{listed}");
    }
    assert_eq!(
        s.call_raw("GET", "/v1/conversations?limit=5&state=queued", None)
            .status,
        200
    );
    EventStream::open(s.port, "/v1/events?channel=web").expect("a known parameter");
}

/// The pages answer whatever query string a browser or a cache-busting `<script src>` adds.
#[test]
fn pages_ignore_query_strings() {
    let s = Server::start();
    for page in PAGES {
        let r = s.call_raw("GET", &format!("{page}?v=3"), None);
        assert_eq!(r.status, 200, "{page}?v=3: {}", r.text());
    }
}
