//! Every bundled plugin is linked into the server and registered (the inventory pitfall of
//! STYLE.md): this test binary links only through `openline_server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn every_bundled_plugin_is_registered_sorted() {
    let registry = openline_server::registry().unwrap();
    assert_eq!(
        registry.source_names(),
        ["browser", "hr", "messenger", "mobile", "timesheet"]
    );
    // The six built-in policies of core (named one by one in core's own registry test).
    assert_eq!(
        registry.policy_names().len(),
        6,
        "{:?}",
        registry.policy_names()
    );
}
