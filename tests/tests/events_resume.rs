//! Numbered, resumable events (SPEC R29), black-box: SSE `id:` lines increasing, a subscriber
//! that reconnects with `Last-Event-ID` (or `?after=`) sees exactly what a never-disconnected
//! one saw, ids are never reused after a crash, and an id older than retention yields
//! `event: reset` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use openline_tests::*;

const WAIT: Duration = Duration::from_secs(10);

fn open(s: &Server, path: &str, headers: &[(&str, &str)]) -> EventStream {
    EventStream::open_with(s.port, path, headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Reads until the `conversation.queued` event of conversation `id` (included).
fn read_through_queued(stream: &mut EventStream, id: &str) -> Vec<SseEvent> {
    let seen = stream.read_until(WAIT, |e| {
        e.event == "conversation.queued" && e.data["conversation"] == id
    });
    assert!(
        seen.last().is_some_and(|e| e.data["conversation"] == id),
        "no queued event for {id} within {WAIT:?}; got {seen:#?}"
    );
    seen
}

/// (id, type, data) of each event.
fn wire(events: &[SseEvent]) -> Vec<(String, String, Value)> {
    events
        .iter()
        .map(|e| {
            (
                e.id.clone().unwrap_or_default(),
                e.event.clone(),
                e.data.clone(),
            )
        })
        .collect()
}

fn id_of(event: &SseEvent) -> u64 {
    event.id.as_deref().unwrap().parse().unwrap()
}

/// Activity on `web`: conversations, offers, accepts, requeues.
fn activity(s: &Server, round: &str) {
    s.new_conversation("web", &format!("{round}-1"));
    s.online("alice");
    s.accept(&format!("{round}-1"), "alice");
    s.signal("alice", "messenger", "close");
    s.new_conversation("web", &format!("{round}-2"));
    s.close(&format!("{round}-1"));
}

#[test]
fn r29_a_subscriber_that_reconnects_with_last_event_id_sees_what_a_connected_one_saw() {
    let s = team_on_web(&["alice", "bob"], &[], json!({}));
    let mut steady = open(&s, "/v1/events", &[]);
    let mut flaky = open(&s, "/v1/events", &[]);

    activity(&s, "a");
    s.new_conversation("web", "mark-1");
    let mut seen_by_flaky = read_through_queued(&mut flaky, "mark-1");
    let last = seen_by_flaky.last().unwrap().id.clone().unwrap();
    drop(flaky); // disconnected; meanwhile more happens
    activity(&s, "b");
    let mut header = open(&s, "/v1/events", &[("Last-Event-ID", &last)]);
    let mut query = open(&s, &format!("/v1/events?after={last}"), &[]);
    activity(&s, "c");
    s.new_conversation("web", "mark-2");

    let all = read_through_queued(&mut steady, "mark-2");
    let resumed = read_through_queued(&mut header, "mark-2");
    seen_by_flaky.extend(resumed);
    assert_eq!(wire(&seen_by_flaky), wire(&all), "no gap, no duplicate");
    assert_eq!(
        wire(&read_through_queued(&mut query, "mark-2")),
        wire(
            &all[all
                .iter()
                .position(|e| e.id.as_deref() == Some(&last))
                .unwrap()
                + 1..]
        ),
        "`?after=` resumes like the header"
    );

    // Ids increase with each event, and the JSON carries the same id.
    let ids: Vec<u64> = all.iter().map(id_of).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(all.iter().all(|e| e.data["id"].as_str() == e.id.as_deref()));
    assert!(all.len() > 15, "the rounds made events: {}", all.len());
}

#[test]
fn r29_ids_survive_a_crash_and_resuming_after_it_reads_the_store() {
    let mut s = team_on_web(&["alice"], &[], json!({}));
    let mut before = open(&s, "/v1/events", &[]);
    activity(&s, "a");
    s.new_conversation("web", "mark-1");
    let seen = read_through_queued(&mut before, "mark-1");
    let middle = seen[seen.len() / 2].id.clone().unwrap();
    let rest_before: Vec<_> = wire(&seen[seen.len() / 2 + 1..]);
    drop(before);

    s.crash_and_restart();
    // Resumed across the restart: the retained events after `middle`, then new ones.
    let mut after = open(&s, "/v1/events", &[("Last-Event-ID", &middle)]);
    s.new_conversation("web", "mark-2");
    let resumed = read_through_queued(&mut after, "mark-2");
    assert_eq!(wire(&resumed[..rest_before.len()]), rest_before);
    let newest_before = id_of(seen.last().unwrap());
    let first_new = id_of(&resumed[rest_before.len()]);
    assert_eq!(
        first_new,
        newest_before + 1,
        "no id reused or skipped by the crash"
    );
}

#[test]
fn r29_an_id_older_than_retention_yields_a_reset_then_what_is_retained() {
    let s = Server::builder()
        // Events are kept for the longer of the two (webhooks deliver them until max_age).
        .extra("[retention]\nevents = \"1h\"\n[webhooks]\nmax_age = \"1h\"\n")
        .start();
    s.team("web", &["alice"], &[], json!({}));
    let mut stream = open(&s, "/v1/events", &[]);
    s.new_conversation("web", "older");
    s.new_conversation("web", "old");
    let old = read_through_queued(&mut stream, "old");
    let first = old[0].id.clone().unwrap();
    s.advance(2 * 3600); // the old events are older than retention: purged
    s.new_conversation("web", "new");
    let newest = read_through_queued(&mut stream, "new");

    let mut resumed = open(&s, "/v1/events", &[("Last-Event-ID", &first)]);
    let got = read_through_queued(&mut resumed, "new");
    assert_eq!(got[0].event, "reset", "{got:#?}");
    let oldest_retained = got[1].id.clone().unwrap();
    assert_eq!(got[0].data, json!({ "after": oldest_retained }));
    assert!(
        got[1..]
            .iter()
            .all(|e| id_of(e) > id_of(old.last().unwrap())),
        "only what is retained follows"
    );
    assert_eq!(got.last().unwrap().id, newest.last().unwrap().id);

    // A bad id is a 400, not a stream.
    let r = s.call("GET", "/v1/events?after=yesterday", None);
    assert_error(&r, 400, "invalid_request", &["after"]);
}

#[test]
fn r29_deadlines_that_fell_due_while_no_server_ran_are_published_at_the_start() {
    let mut s = team_on_web(&["alice"], &[], json!({"offer_timeout_seconds": 120}));
    s.online("alice");
    let mut stream = open(&s, "/v1/events", &[]);
    s.new_conversation("web", "c1"); // offered to alice, for 120 s
    let seen = stream.read_until(WAIT, |e| e.event == "conversation.offered");
    let last = seen.last().unwrap().id.clone().unwrap();
    drop(stream);
    let later = ts(plus(s.now(), 600));
    s.kill();
    // Ten minutes pass while no server runs (the manual clock resumes where it stood).
    s.store_execute(&format!(
        "UPDATE openline_clock SET now = '{later}' WHERE id = 1"
    ));
    s.crash_and_restart();
    let mut resumed = open(&s, "/v1/events", &[("Last-Event-ID", &last)]);
    let got = resumed.read_until(WAIT, |e| {
        e.event == "conversation.offer_withdrawn" && e.data["reason"] == "offer_expired"
    });
    let expired = got.last().unwrap();
    assert_eq!(expired.event, "conversation.offer_withdrawn", "{got:#?}");
    assert_eq!(expired.data["conversation"], "c1");
    assert!(id_of(expired) > last.parse::<u64>().unwrap());
}
