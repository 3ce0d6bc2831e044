//! Harness of openline's black-box acceptance tests: start the real server as a subprocess
//! on a free loopback port (manual clock, fresh store), talk HTTP to it, kill and restart it.
//! The tests in `tests/` are written against API.md and SPEC.md only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed expectation is a failed test

pub mod api;
pub mod check;
pub mod db;
pub mod http;
pub mod jwt;
pub mod receiver;
pub mod routes;
pub mod server;
pub mod world;

pub use api::{ALL_POLICIES, ALL_SOURCES, ids, parse_ts, plus, sorted_strings, ts, verdict_until};
pub use check::{
    MALFORMED, Watch, assert_conflict, assert_each_invalid, assert_error, assert_held,
    assert_history_has, assert_history_in_order, assert_invalid, assert_not_found, assert_offered,
    assert_passed_on, assert_refused, assert_returned_to_queue, assert_waiting, history, names,
    offered_single, snapshot, unknown_and_valid,
};
pub use db::Backend;
pub use http::{EventStream, SseEvent, mentions};
pub use receiver::{Received, Receiver};
pub use serde_json::{Value, json};
pub use server::{Server, ServerBuilder, TempDir, cli_create_token, run_cli, serve_refused};
pub use world::{clocked_in_on_web, team_on_web};
