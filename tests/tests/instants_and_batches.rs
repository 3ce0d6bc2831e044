//! Instants stay within the years 1970–9999, a client clock a few seconds ahead counts as
//! now, and a refused item of a batch is named by its index (SPEC R24d, R20).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agent `a` on channel `web`, which listens to the messenger only.
fn messenger_agent() -> Server {
    team_on_web(&["a"], &[], json!({"sources": ["hr", "messenger"]}))
}

#[test]
fn r24d_a_signal_stamped_up_to_five_seconds_ahead_counts_as_now() {
    let s = messenger_agent();
    let now = s.now();
    s.signal_with(
        json!({"agent": "a", "source": "messenger", "event": "open", "at": ts(plus(now, 5))}),
    );
    // Online for the heartbeat timeout from now, not from the client's clock.
    s.assert_online_until("a", "web", "messenger", plus(now, 120));
}

#[test]
fn r24d_a_signal_further_ahead_or_outside_the_years_1970_to_9999_is_refused() {
    let mut s = messenger_agent();
    let now = s.now();
    for (at, needle) in [
        (ts(plus(now, 6)), "more than 5 s in the future"),
        (
            "1969-12-31T23:59:59Z".to_owned(),
            "the year must be from 1970 to 9999",
        ),
        ("+10004-08-14T00:00:00Z".to_owned(), "`at`"),
    ] {
        let body = json!({"agent": "a", "source": "messenger", "event": "open", "at": at});
        let expected = (400, "invalid_request", &[needle][..]);
        assert_refused(
            &mut s,
            Watch::default(),
            "POST",
            "/v1/signals",
            &body.to_string(),
            expected,
        );
    }
    let leave = json!({"agent": "a", "source": "hr", "event": "leave", "id": "x",
        "from": ts(now), "to": "9999-12-31T23:59:59-01:00"});
    let expected = (400, "invalid_request", &["`to`", "1970 to 9999"][..]);
    assert_refused(
        &mut s,
        Watch::default(),
        "POST",
        "/v1/signals",
        &leave.to_string(),
        expected,
    );
}

#[test]
fn r24d_the_clock_cannot_be_advanced_past_the_year_9999_and_the_store_stays_readable() {
    let mut s = messenger_agent();
    let before = s.now();
    let r = s.call(
        "POST",
        "/v1/clock/advance",
        Some(&json!({"seconds": 252_086_400_000_u64})),
    );
    assert_error(&r, 400, "invalid_request", &["`seconds`", "9999"]);
    assert_eq!(s.now(), before);
    s.signal("a", "messenger", "open");
    s.crash_and_restart();
    assert_eq!(s.now(), before, "the log still loads");
}

#[test]
fn r20_an_unknown_agent_inside_a_batch_is_named_by_its_index() {
    let mut s = messenger_agent();
    let batch = json!([
        {"agent": "a", "source": "messenger", "event": "open"},
        {"agent": "ghost", "source": "messenger", "event": "open"}
    ]);
    let expected = (404, "not_found", &["signal [1]", "`ghost`"][..]);
    assert_refused(
        &mut s,
        Watch::default(),
        "POST",
        "/v1/signals",
        &batch.to_string(),
        expected,
    );
    assert!(!s.is_available("a", "web"), "the whole batch was refused");
}

#[test]
fn r20_a_batch_is_one_change_its_intermediate_states_take_nothing_away() {
    // Alice, online, has been offered c1. A batch that closes and reopens her messenger leaves
    // her online: her offer stays, nothing is requeued and no availability change is
    // reported. Each signal used to be evaluated on its own — the offer was withdrawn and
    // made again — and an agent was evaluated once per signal (issue #20: a batch of 3 000
    // leaves cost a verdict each); now once per batch.
    let s = Server::start();
    s.put_agent("alice", &[]);
    s.put_channel("web", &["alice"], json!({}));
    s.online("alice");
    s.new_conversation("web", "c1");
    let history = |s: &Server| -> Vec<String> {
        s.conversation("c1")["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["event"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = history(&s);
    assert_eq!(s.conversation("c1")["state"], "offered");
    let mut events = EventStream::open(s.port, "/v1/events").unwrap();
    s.signal_with(json!([
        {"agent": "alice", "source": "messenger", "event": "close"},
        {"agent": "alice", "source": "messenger", "event": "open"},
    ]));
    let c1 = s.conversation("c1");
    assert_eq!(c1["state"], "offered", "{c1}");
    assert_eq!(c1["offered_to"], json!(["alice"]), "{c1}");
    assert_eq!(history(&s), before, "{c1}");
    // A marker event after the batch: nothing came before it.
    s.put_agent("bob", &[]);
    s.put_channel("mail", &["bob"], json!({}));
    s.new_conversation("mail", "marker");
    let seen = events.read_until(std::time::Duration::from_secs(5), |e| {
        e.data["conversation"] == "marker"
    });
    assert_eq!(
        seen.last().map(|e| &e.data["conversation"]),
        Some(&json!("marker"))
    );
    let about_alice: Vec<&SseEvent> = seen
        .iter()
        .filter(|e| e.data["agent"] == "alice" || e.data["conversation"] == "c1")
        .collect();
    assert!(about_alice.is_empty(), "{about_alice:?}");
}
