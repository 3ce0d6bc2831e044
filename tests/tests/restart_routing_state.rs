//! Durability of what is not directly readable (SPEC R19): a policy's position, the skip
//! list of an offer round, and writes acknowledged to concurrent clients just before a
//! SIGKILL. SQLite always, PostgreSQL when `OPENLINE_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

fn routing_state_survives_restart(backend: &Backend) {
    let mut s = Server::builder().backend(backend).start();
    s.working(&["a", "b", "c"]);
    s.put_channel("rr", &["a", "b", "c"], json!({"policy": "round_robin"}));
    s.put_channel("skip", &["a", "b", "c"], json!({}));
    assert_offered(&s.new_conversation("rr", "r1"), &["a"]);
    assert_offered(&s.new_conversation("rr", "r2"), &["b"]);
    s.new_conversation("skip", "k1");
    assert_offered(&s.decline("k1", "a"), &["b"]);

    s.crash_and_restart();
    // The rotation continues after `b`, not from the start of the queue.
    assert_offered(&s.new_conversation("rr", "r3"), &["c"]);
    // `a` is still skipped for k1 in this round: after `b` declines it goes to `c`.
    assert_offered(&s.decline("k1", "b"), &["c"]);
}

backend_tests!(
    routing_state_survives_restart: r19_r11_r12_policy_position_and_skip_list_survive_sigkill_sqlite, r19_r11_r12_policy_position_and_skip_list_survive_sigkill_postgres
);

fn concurrent_writes_survive_sigkill(backend: &Backend) {
    let mut s = Server::builder().backend(backend).start();
    let port = s.port;
    std::thread::scope(|scope| {
        for worker in 0..4 {
            scope.spawn(move || {
                for i in 0..25 {
                    let body =
                        json!({"name": format!("Agent {worker}-{i}"), "groups": ["g"]}).to_string();
                    let path = format!("/v1/agents/w{worker}-{i}");
                    let r = openline_tests::http::send(port, "PUT", &path, Some(body.as_bytes()))
                        .unwrap();
                    assert_eq!(r.status, 201, "PUT {path}: {}", r.text());
                }
            });
        }
    });
    let before = s.get("/v1/agents");
    assert_eq!(ids(&before["agents"]).len(), 100);
    s.crash_and_restart();
    assert_eq!(
        s.get("/v1/agents"),
        before,
        "every acknowledged write is back after SIGKILL"
    );
}

backend_tests!(
    concurrent_writes_survive_sigkill: r19_concurrent_acknowledged_writes_survive_sigkill_sqlite, r19_concurrent_acknowledged_writes_survive_sigkill_postgres
);
