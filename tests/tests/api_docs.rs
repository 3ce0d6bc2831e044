//! docs/api.md promises every endpoint (issue #20 item 18, SPEC R31: the contract covers
//! every endpoint): its table "Every endpoint at a glance" lists exactly the routes of the
//! server's router, read from its source like the OpenAPI test does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use openline_tests::routes::router_routes;

/// The `(METHOD, path)` pairs written as `` `METHOD /path` `` in the first column of the
/// table under `## Every endpoint at a glance`.
fn listed_in_the_guide() -> BTreeSet<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let guide = std::fs::read_to_string(path).unwrap();
    let section = guide
        .split("\n## Every endpoint at a glance\n")
        .nth(1)
        .expect("docs/api.md has the section `## Every endpoint at a glance`");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut listed = BTreeSet::new();
    for row in section.lines().filter(|line| line.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for item in first_cell.split('`').skip(1).step_by(2) {
            let (method, path) = item
                .split_once(' ')
                .unwrap_or_else(|| panic!("`{item}` is not `METHOD /path`"));
            listed.insert((method.to_owned(), path.to_owned()));
        }
    }
    listed
}

#[test]
fn r31_docs_api_lists_every_route_of_the_router_and_nothing_else() {
    let routes = router_routes();
    assert!(routes.len() >= 30, "read only {} routes", routes.len());
    let listed = listed_in_the_guide();
    let missing: Vec<_> = routes.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes not in docs/api.md's table: {missing:?}\nin the table but not routed: {extra:?}"
    );
}

/// Each endpoint's section exists: the anchors the table links to are headings of the guide.
#[test]
fn r31_the_sections_the_table_links_to_exist() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let guide = std::fs::read_to_string(path).unwrap();
    let anchors: BTreeSet<String> = guide
        .lines()
        .filter_map(|line| {
            line.strip_prefix("## ")
                .or_else(|| line.strip_prefix("### "))
        })
        .map(|title| {
            title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    for link in guide.split("](#").skip(1) {
        let anchor = link.split(')').next().unwrap_or_default();
        assert!(
            anchors.contains(anchor),
            "docs/api.md links to #{anchor}, which is no heading of it"
        );
    }
}
