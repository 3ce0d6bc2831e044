//! The custom binary is openline with one more source (SPEC R34): it serves the whole API,
//! lists `calendar` beside the bundled sources, and routes by it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

fn calendar_server() -> Server {
    Server::builder()
        .program(env!("CARGO_BIN_EXE_openline-calendar"))
        .start()
}

#[test]
fn r34_the_custom_binary_lists_its_source_beside_the_bundled_ones() {
    let s = calendar_server();
    let sources = s.get("/v1/plugins")["sources"].clone();
    assert_eq!(
        sources,
        json!([
            "browser",
            "calendar",
            "hr",
            "messenger",
            "mobile",
            "timesheet"
        ])
    );
}

#[test]
fn r14_r34_a_meeting_takes_conversations_away_with_the_sources_own_code() {
    let s = calendar_server();
    s.put_agent("a", &[]);
    s.put_channel("web", &["a"], json!({"sources": ["calendar", "messenger"]}));
    s.signal("a", "messenger", "open");
    s.serve("web", "c1", "a");
    let now = s.now();
    s.signal_with(json!({"agent": "a", "source": "calendar", "event": "busy",
        "id": "standup", "from": ts(now), "to": ts(plus(now, 900))}));
    let c1 = s.conversation("c1");
    assert_eq!(c1["state"], "queued", "{c1}");
    assert_history_has(&c1, &["requeued"], "a", "in_meeting");
    let verdict = s.verdict("a", "web", "calendar");
    assert_eq!(verdict["verdict"], "block");
    assert!(
        verdict["reason"]
            .as_str()
            .unwrap()
            .starts_with("in meeting `standup`"),
        "{verdict}"
    );
}
