//! SPEC R20 for signals (including all-or-nothing batches), conversations and their actions,
//! and the clock: status, error shape, a message naming the problem, and nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agents `a` (held `c1`) and `b` on channel `web` (check off), `c2` closed.
fn populated() -> Server {
    let s = team_on_web(&["a", "b"], &[], json!({"check_availability": false}));
    s.serve("web", "c1", "a");
    s.serve("web", "c2", "a");
    s.close("c2");
    s
}

const WATCH: Watch<'static> = Watch::conversations(&["c1", "c2"]);

#[test]
fn r20_signals_refuse_unknown_sources_and_events_listing_the_valid_ones() {
    let mut s = populated();
    let fax = r#"{"agent": "a", "source": "fax", "event": "ring"}"#;
    let needles = unknown_and_valid("fax", &ALL_SOURCES);
    assert_invalid(&mut s, WATCH, "POST", "/v1/signals", fax, &needles);
    let cases: [(&str, &[&str]); 5] = [
        (
            "mobile",
            &["foreground", "background", "heartbeat", "close"],
        ),
        (
            "messenger",
            &["open", "heartbeat", "close", "dnd_on", "dnd_off"],
        ),
        ("browser", &["activity", "close"]),
        ("hr", &["dismissed", "rehired", "leave", "leave_cancelled"]),
        ("timesheet", &["clock_in", "pause", "resume", "clock_out"]),
    ];
    for (source, events) in cases {
        let needles = unknown_and_valid("wave", events);
        let body = json!({"agent": "a", "source": source, "event": "wave"}).to_string();
        assert_invalid(&mut s, WATCH, "POST", "/v1/signals", &body, &needles);
    }
}

#[test]
fn r20_signals_refuse_malformed_missing_wrong_and_unknown_fields() {
    let mut s = populated();
    let cases: [(&str, &[&str]); 7] = [
        (r#"{"agent": "a", "source": "browser""#, &[MALFORMED]),
        (r#"{"source": "browser", "event": "activity"}"#, &["agent"]),
        (r#"{"agent": "a", "event": "activity"}"#, &["source"]),
        (r#"{"agent": "a", "source": "browser"}"#, &["event"]),
        (
            r#"{"agent": 5, "source": "browser", "event": "activity"}"#,
            &["agent"],
        ),
        (
            r#"{"agent": "a", "source": "browser", "event": "activity", "colour": "red"}"#,
            &["colour"],
        ),
        (
            r#"{"agent": "a", "source": "browser", "event": "activity", "at": "yesterday"}"#,
            &["=at"],
        ),
    ];
    assert_each_invalid(&mut s, WATCH, "POST", "/v1/signals", &cases);
    let nobody = r#"{"agent": "nobody", "source": "browser", "event": "activity"}"#;
    assert_not_found(&mut s, WATCH, "POST", "/v1/signals", nobody, "nobody");
}

#[test]
fn r20_signals_refuse_an_instant_in_the_future_and_a_leave_ending_before_it_starts() {
    let mut s = populated();
    let now = s.now();
    let future =
        json!({"agent": "a", "source": "browser", "event": "activity", "at": ts(plus(now, 60))});
    let leave = |from: i64, to: i64| {
        let (from, to) = (ts(plus(now, from)), ts(plus(now, to)));
        json!({"agent": "a", "source": "hr", "event": "leave", "id": "l", "from": from, "to": to})
    };
    let no_id = json!({"agent": "a", "source": "hr", "event": "leave", "from": ts(now), "to": ts(plus(now, 60))});
    let bad_from = json!({"agent": "a", "source": "hr", "event": "leave", "id": "l", "from": "soon", "to": ts(now)});
    let cancel = json!({"agent": "a", "source": "hr", "event": "leave_cancelled"});
    let cases: [(Value, &[&str]); 6] = [
        (future, &["=at|future"]),
        (leave(3600, 60), &["=to|=from|before|after"]),
        (leave(60, 60), &["=to|=from|before|after|empty"]),
        (no_id, &["=id"]),
        (bad_from, &["=from"]),
        (cancel, &["=id"]),
    ];
    for (body, needles) in cases {
        let body = body.to_string();
        assert_invalid(&mut s, WATCH, "POST", "/v1/signals", &body, needles);
    }
}

#[test]
fn r20_a_batch_with_one_bad_signal_applies_nothing() {
    let mut s = populated();
    s.put_channel("live", &["a", "b"], json!({}));
    s.new_conversation("live", "l1");
    let watch = Watch::conversations(&["c1", "c2", "l1"]);
    let batch = json!([
        {"agent": "a", "source": "browser", "event": "activity"},
        {"agent": "b", "source": "messenger", "event": "open"},
        {"agent": "b", "source": "mobile", "event": "wave"},
    ])
    .to_string();
    assert_invalid(
        &mut s,
        watch,
        "POST",
        "/v1/signals",
        &batch,
        &["=2", "wave"],
    );
    let batch = json!([
        {"agent": "a", "source": "browser", "event": "activity"},
        {"agent": "ghost", "source": "messenger", "event": "open"},
    ])
    .to_string();
    assert_not_found(&mut s, watch, "POST", "/v1/signals", &batch, "ghost");
    assert!(!s.is_available("a", "live"));
    assert_waiting(&s.conversation("l1"));
    // The same batch without the bad element is accepted whole.
    let good = json!([
        {"agent": "a", "source": "browser", "event": "activity"},
        {"agent": "b", "source": "messenger", "event": "open"},
    ]);
    assert_eq!(s.signal_with(good)["accepted"], 2);
    assert!(s.is_available("a", "live") && s.is_available("b", "live"));
}

#[test]
fn r20_conversation_creation_refuses_bad_bodies() {
    let mut s = populated();
    let cases: [(&str, &[&str]); 6] = [
        (r#"{"id": "n1", "customer": "#, &[MALFORMED]),
        (r#"{"id": "n1", "text": "hi"}"#, &["customer"]),
        (r#"{"id": "n1", "customer": 5}"#, &["customer"]),
        (r#"{"id": "n1", "customer": "c", "text": 5}"#, &["text"]),
        (r#"{"id": 7, "customer": "c"}"#, &["=id"]),
        (
            r#"{"id": "n1", "customer": "c", "colour": "red"}"#,
            &["colour"],
        ),
    ];
    assert_each_invalid(
        &mut s,
        WATCH,
        "POST",
        "/v1/channels/web/conversations",
        &cases,
    );
    assert_error(
        &s.call("GET", "/v1/conversations/n1", None),
        404,
        "not_found",
        &["n1"],
    );
}

#[test]
fn r20_conversation_actions_refuse_bad_bodies() {
    let mut s = populated();
    let cases: [(&str, &str, &[&str]); 10] = [
        ("messages", r#"{"from": "robot"}"#, &["robot|from"]),
        ("messages", r#"{"text": "hi"}"#, &["from"]),
        ("messages", r#"{"from": "agent"}"#, &["agent"]),
        (
            "messages",
            r#"{"from": "customer", "colour": 1}"#,
            &["colour"],
        ),
        ("accept", r#"{}"#, &["agent"]),
        ("accept", r#"{"agent": 5}"#, &["agent"]),
        ("decline", r#"{"agent": ["a"]}"#, &["agent"]),
        ("transfer", r#"{}"#, &["=to"]),
        ("transfer", r#"{"to": 5}"#, &["=to"]),
        ("accept", r#"{"agent": "a""#, &[MALFORMED]),
    ];
    for (action, body, needles) in cases {
        assert_invalid(
            &mut s,
            WATCH,
            "POST",
            &format!("/v1/conversations/c1/{action}"),
            body,
            needles,
        );
    }
    assert_not_found(
        &mut s,
        WATCH,
        "POST",
        "/v1/conversations/c1/transfer",
        r#"{"to": "ghost"}"#,
        "ghost",
    );
    assert_held(&s.conversation("c1"), "a");
}

#[test]
fn r20_closing_twice_is_a_conflict_and_a_closed_conversation_takes_no_transitions() {
    let mut s = populated();
    let closed = s.conversation("c2");
    assert_eq!(closed["state"], "closed");
    assert_conflict(&mut s, WATCH, "POST", "/v1/conversations/c2/close", "");
    for (action, body) in [
        ("accept", r#"{"agent": "a"}"#),
        ("decline", r#"{"agent": "a"}"#),
        ("transfer", r#"{"to": "b"}"#),
    ] {
        let path = format!("/v1/conversations/c2/{action}");
        assert_conflict(&mut s, WATCH, "POST", &path, body);
    }
    assert_eq!(s.conversation("c2"), closed);
}

#[test]
fn r20_clock_advance_refuses_anything_but_positive_whole_seconds() {
    let mut s = populated();
    let before = s.now();
    let cases: [(&str, &[&str]); 8] = [
        (r#"{"seconds": 0}"#, &["seconds"]),
        (r#"{"seconds": -5}"#, &["seconds"]),
        (r#"{"seconds": "300"}"#, &["seconds"]),
        (r#"{"seconds": 1.5}"#, &["seconds"]),
        (r#"{"seconds": 18446744073709551615}"#, &["seconds"]),
        (r#"{}"#, &["seconds"]),
        (r#"{"seconds": 5, "colour": 1}"#, &["colour"]),
        (r#"{"seconds": "#, &[MALFORMED]),
    ];
    assert_each_invalid(&mut s, WATCH, "POST", "/v1/clock/advance", &cases);
    assert_eq!(s.now(), before, "refused advances must not move the clock");
}
