//! The waiting queue and capacity (SPEC R10) and event-driven routing (R13).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

#[test]
fn r10_waiting_conversations_are_served_in_order_of_arrival() {
    let s = team_on_web(&["a"], &["shift"], json!({"max_chats": 1}));
    for id in ["c1", "c2", "c3"] {
        assert_waiting(&s.new_conversation("web", id));
        s.advance(5);
    }
    assert_eq!(s.queue("web"), ["c1", "c2", "c3"]);
    s.signal("a", "timesheet", "clock_in");
    assert_offered(&s.conversation("c1"), &["a"]);
    assert_eq!(s.queue("web"), ["c2", "c3"]);
    s.accept("c1", "a");
    s.close("c1");
    assert_offered(&s.conversation("c2"), &["a"]);
    assert_eq!(s.queue("web"), ["c3"]);
}

#[test]
fn r10_a_withdrawn_offer_keeps_its_original_place_in_the_queue() {
    let s = team_on_web(&["a"], &["shift"], json!({"max_chats": 1}));
    s.signal("a", "timesheet", "clock_in");
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.advance(5);
    s.new_conversation("web", "c2");
    s.advance(5);
    s.new_conversation("web", "c3");
    assert_eq!(s.queue("web"), ["c2", "c3"]);
    s.signal("a", "timesheet", "pause");
    assert_eq!(
        s.queue("web"),
        ["c1", "c2", "c3"],
        "the returned conversation goes back to its place, not the end"
    );
    let c1 = s.conversation("c1");
    s.signal("a", "timesheet", "resume");
    assert_offered(&s.conversation("c1"), &["a"]);
    assert_eq!(
        s.conversation("c1")["queued_at"],
        c1["queued_at"],
        "queued_at is the first arrival"
    );
}

#[test]
fn r10_a_requeued_accepted_conversation_keeps_its_original_place() {
    let s = team_on_web(&["a"], &["shift"], json!({"max_chats": 1}));
    s.signal("a", "timesheet", "clock_in");
    s.new_conversation("web", "c1");
    s.accept("c1", "a");
    s.advance(5);
    s.new_conversation("web", "c2");
    s.advance(5);
    s.new_conversation("web", "c3");
    s.signal("a", "timesheet", "clock_out"); // customer wrote last: R14c
    assert_eq!(s.queue("web"), ["c1", "c2", "c3"]);
}

#[test]
fn r10_max_chats_counts_offered_and_accepted_conversations_across_channels() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    s.put_channel("mail", &["a", "b"], json!({"max_chats": 1}));
    assert_offered(&s.new_conversation("web", "w1"), &["a"]);
    // `a` holds one offer on `web`: at the limit of `mail`, so `mail` goes to `b`.
    assert_offered(&s.new_conversation("mail", "m1"), &["b"]);
    s.accept("m1", "b");
    assert_waiting(&s.new_conversation("mail", "m2"));
    s.accept("w1", "a");
    assert_waiting(&s.conversation("m2"));
    // `web` has no limit: `a` still gets more there.
    assert_offered(&s.new_conversation("web", "w2"), &["a"]);
    s.accept("w2", "a");
    // R13: freeing capacity routes at once.
    s.close("w1");
    s.close("w2");
    assert_offered(&s.conversation("m2"), &["a"]);
}

#[test]
fn r10_the_queue_may_name_agents_created_later() {
    let s = Server::start();
    s.put_channel("web", &["ghost"], json!({"check_availability": false}));
    assert_waiting(&s.new_conversation("web", "c1"));
    s.put_agent("ghost", &[]);
    assert_offered(&s.conversation("c1"), &["ghost"]);
}

#[test]
fn r10_only_agents_in_the_channel_queue_are_eligible() {
    let s = Server::start();
    s.working(&["a", "outsider"]);
    s.put_channel("web", &["a"], json!({"max_chats": 1}));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    assert_waiting(&s.new_conversation("web", "c2"));
    assert!(s.agent_conversations("outsider").is_empty());
    s.patch_channel("web", json!({"queue": ["a", "outsider"]}));
    assert_offered(&s.conversation("c2"), &["outsider"]);
}

#[test]
fn r13_an_agent_becoming_available_is_offered_the_waiting_conversation_immediately() {
    let s = team_on_web(&["a"], &[], json!({}));
    assert_waiting(&s.new_conversation("web", "c1"));
    s.signal("a", "browser", "activity");
    // No clock advance, no further request: the signal itself routed.
    assert_offered(&s.conversation("c1"), &["a"]);
    assert_eq!(s.agent_conversations("a"), ["c1"]);
}

#[test]
fn r13_a_new_conversation_is_offered_in_the_creating_response() {
    let s = clocked_in_on_web(&["a"], json!({}));
    let c1 = s.new_conversation("web", "c1");
    assert_offered(&c1, &["a"]);
    assert_eq!(
        c1["last_message_from"], "customer",
        "the first message counts as from the customer"
    );
    assert_history_in_order(&c1, &[("queued", ""), ("offered", "a")]);
}

#[test]
fn r13_raising_max_chats_routes_waiting_conversations_at_once() {
    let s = clocked_in_on_web(&["a"], json!({"max_chats": 1}));
    s.new_conversation("web", "c1");
    assert_waiting(&s.new_conversation("web", "c2"));
    s.patch_channel("web", json!({"max_chats": 2}));
    assert_offered(&s.conversation("c2"), &["a"]);
}
