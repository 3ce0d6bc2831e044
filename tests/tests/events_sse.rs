//! `GET /v1/events` (Server-Sent Events): event types of API.md, `?channel=` and `?agent=`
//! filters. Streams are read with a deadline; nothing waits unbounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use openline_tests::*;

const WAIT: Duration = Duration::from_secs(10);

fn open(s: &Server, path: &str) -> EventStream {
    EventStream::open(s.port, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Reads until an event of type `kind` mentioning `id` arrives; fails after [`WAIT`].
fn read_through(stream: &mut EventStream, kind: &str, id: &str) -> Vec<SseEvent> {
    let seen = stream.read_until(WAIT, |e| e.event == kind && mentions(&e.data, id));
    assert!(
        seen.last()
            .is_some_and(|e| e.event == kind && mentions(&e.data, id)),
        "no `{kind}` event for {id} within {WAIT:?}; got {seen:#?}"
    );
    seen
}

fn types_for(events: &[SseEvent], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| mentions(&e.data, id))
        .map(|e| e.event.clone())
        .collect()
}

/// `types` appear in this order (others may be between).
fn assert_in_order(got: &[String], types: &[&str]) {
    let mut rest = got.iter();
    for t in types {
        assert!(
            rest.any(|g| g == t),
            "expected {types:?} in order within {got:?}"
        );
    }
}

#[test]
fn channel_filtered_stream_carries_the_whole_conversation_lifecycle() {
    let s = team_on_web(&["alice", "bob"], &[], json!({}));
    s.put_channel("mail", &["alice"], json!({"check_availability": false}));
    let mut web = open(&s, "/v1/events?channel=web");
    let mut mail = open(&s, "/v1/events?channel=mail");

    s.new_conversation("web", "c1"); // nobody available: queued
    s.online("alice"); // offered to alice
    s.accept("c1", "alice");
    s.signal("alice", "messenger", "close"); // customer wrote last: requeued
    s.signal("bob", "browser", "activity"); // offered to bob
    s.signal("bob", "browser", "close"); // offer withdrawn
    s.new_conversation("mail", "m1");
    s.close("c1");

    let events = read_through(&mut web, "conversation.closed", "c1");
    let c1 = types_for(&events, "c1");
    assert_in_order(
        &c1,
        &[
            "conversation.queued",
            "conversation.offered",
            "conversation.accepted",
            "conversation.requeued",
            "conversation.offered",
            "conversation.offer_withdrawn",
            "conversation.closed",
        ],
    );
    assert!(
        events.iter().all(|e| !mentions(&e.data, "m1")),
        "a `mail` event on the `web` stream: {events:#?}"
    );

    let events = read_through(&mut mail, "conversation.offered", "m1");
    assert!(
        events.iter().all(|e| !mentions(&e.data, "c1")),
        "a `web` event on the `mail` stream: {events:#?}"
    );
}

#[test]
fn agent_filtered_stream_only_carries_that_agents_events() {
    let s = clocked_in_on_web(&["alice", "bob"], json!({"max_chats": 1}));
    let mut bob = open(&s, "/v1/events?agent=bob");
    assert_offered(&s.new_conversation("web", "c1"), &["alice"]);
    assert_offered(&s.new_conversation("web", "c2"), &["bob"]);
    s.signal("alice", "timesheet", "pause"); // c1 withdrawn; bob is full: c1 waits
    s.signal("alice", "timesheet", "resume"); // c1 offered to alice again
    assert_offered(&s.conversation("c1"), &["alice"]);
    s.accept("c2", "bob");
    s.close("c2");
    let events = read_through(&mut bob, "conversation.closed", "c2");
    assert_in_order(
        &types_for(&events, "c2"),
        &[
            "conversation.offered",
            "conversation.accepted",
            "conversation.closed",
        ],
    );
    for e in &events {
        let about_alice = e.event == "agent.availability_changed" && mentions(&e.data, "alice");
        assert!(
            !about_alice && !mentions(&e.data, "c1"),
            "alice's event on bob's stream: {e:#?}"
        );
    }
}

#[test]
fn availability_changes_are_published_including_ones_caused_by_deadlines() {
    let s = team_on_web(&["alice"], &[], json!({}));
    let mut all = open(&s, "/v1/events");
    s.signal("alice", "mobile", "foreground");
    read_through(&mut all, "agent.availability_changed", "alice");
    s.signal("alice", "mobile", "background");
    s.advance(299);
    let quiet = all.read_until(Duration::from_millis(300), |e| {
        e.event == "agent.availability_changed"
    });
    assert!(
        quiet
            .iter()
            .all(|e| e.event != "agent.availability_changed"),
        "still online at +299 s: {quiet:#?}"
    );
    s.advance(1);
    read_through(&mut all, "agent.availability_changed", "alice");
}

#[test]
fn agent_and_channel_filters_combine() {
    let s = Server::start();
    s.working(&["alice", "bob"]);
    s.put_channel("web", &["alice"], json!({}));
    s.put_channel("mail", &["alice", "bob"], json!({}));
    let mut stream = open(&s, "/v1/events?agent=alice&channel=mail");
    assert_offered(&s.new_conversation("web", "w1"), &["alice"]);
    s.signal("alice", "timesheet", "pause");
    assert_offered(&s.new_conversation("mail", "m1"), &["bob"]);
    s.signal("alice", "timesheet", "resume");
    assert_offered(&s.new_conversation("mail", "m2"), &["alice"]);
    let events = read_through(&mut stream, "conversation.offered", "m2");
    for e in &events {
        assert!(
            !mentions(&e.data, "w1") && !mentions(&e.data, "m1"),
            "outside the filter: {e:#?}"
        );
    }
}
