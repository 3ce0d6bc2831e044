//! Each built-in policy's choice (SPEC R11), observed through who gets the offer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agents a, b, c clocked in, on channel `web` with `policy` and `extra` settings.
fn team(policy: &str, extra: Value) -> Server {
    let s = Server::start();
    s.working(&["a", "b", "c"]);
    let mut fields = json!({"policy": policy, "offer_timeout_seconds": 86_400});
    if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    s.put_channel("web", &["a", "b", "c"], fields);
    s
}

/// Creates a conversation, checks it went to one agent, has that agent accept it; the agent.
fn served(s: &Server, id: &str) -> String {
    let agent = offered_single(&s.new_conversation("web", id));
    s.accept(id, &agent);
    agent
}

/// Serves `c1`, `c2`, `c3` (see [`served`]) 10 s apart; who holds each, in this order.
fn three_served_ten_seconds_apart(s: &Server) -> Vec<String> {
    let mut holders = Vec::new();
    for id in ["c1", "c2", "c3"] {
        holders.push(served(s, id));
        s.advance(10);
    }
    holders
}

/// The holders sorted: `["a", "b", "c"]` when every agent holds one.
fn sorted(holders: &[String]) -> Vec<String> {
    let mut distinct = holders.to_vec();
    distinct.sort();
    distinct
}

#[test]
fn r11_strict_order_always_offers_the_first_eligible_agent_in_queue_order() {
    let s = team("strict_order", json!({}));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    assert_offered(&s.new_conversation("web", "c2"), &["a"]);
    s.signal("a", "timesheet", "pause");
    assert_offered(&s.new_conversation("web", "c3"), &["b"]);
    s.signal("a", "timesheet", "resume");
    assert_offered(&s.new_conversation("web", "c4"), &["a"]);
}

#[test]
fn r11_round_robin_rotates_through_the_queue_after_the_last_agent_served() {
    let s = team("round_robin", json!({}));
    for (id, agent) in [("c1", "a"), ("c2", "b"), ("c3", "c"), ("c4", "a")] {
        assert_offered(&s.new_conversation("web", id), &[agent]);
    }
    // `b` is next but unavailable: the rotation moves on to `c`. (`b` replied last in c2, so
    // c2 stays with `b` under R14b and is not routed again.)
    s.accept("c2", "b");
    s.agent_says("c2", "b");
    s.signal("b", "timesheet", "pause");
    assert_held(&s.conversation("c2"), "b");
    assert_offered(&s.new_conversation("web", "c5"), &["c"]);
    s.signal("b", "timesheet", "resume");
    assert_offered(&s.new_conversation("web", "c6"), &["a"]);
}

#[test]
fn r11_evenly_offers_to_the_agent_whose_last_reply_is_the_longest_ago() {
    let s = team("evenly", json!({"max_chats": 1}));
    // Nobody has replied: ties go by queue order (capacity 1 spreads the first three).
    for (id, agent) in [("c1", "a"), ("c2", "b"), ("c3", "c")] {
        assert_offered(&s.new_conversation("web", id), &[agent]);
        s.accept(id, agent);
    }
    // Replies in the order c, b, a.
    for (id, agent) in [("c3", "c"), ("c2", "b"), ("c1", "a")] {
        s.advance(10);
        s.agent_says(id, agent);
    }
    for id in ["c1", "c2", "c3"] {
        s.close(id);
    }
    assert_offered(&s.new_conversation("web", "c4"), &["c"]);
    s.accept("c4", "c");
    s.advance(10);
    s.agent_says("c4", "c");
    s.close("c4");
    // An agent who never replied comes first.
    s.working(&["d"]);
    s.patch_channel("web", json!({"queue": ["a", "b", "c", "d"]}));
    assert_offered(&s.new_conversation("web", "c5"), &["d"]);
    s.accept("c5", "d");
    s.advance(10);
    s.agent_says("c5", "d");
    s.close("c5");
    // Last replies now: b (oldest), a, c, d.
    assert_offered(&s.new_conversation("web", "c6"), &["b"]);
}

#[test]
fn r11_all_at_once_offers_everyone_and_the_first_accept_wins() {
    let s = team("all_at_once", json!({}));
    s.signal("c", "timesheet", "pause");
    assert_offered(&s.new_conversation("web", "c1"), &["a", "b"]);
    assert_eq!(s.agent_conversations("a"), ["c1"]);
    let held = s.accept("c1", "b");
    assert_held(&held, "b");
    // The other offer is recorded as withdrawn.
    assert_history_has(&held, &["offer_withdrawn"], "a", "");
    assert!(
        s.agent_conversations("a").is_empty(),
        "a's offer was withdrawn"
    );
    let late = s.call(
        "POST",
        "/v1/conversations/c1/accept",
        Some(&json!({"agent": "a"})),
    );
    assert_error(&late, 409, "conflict", &[]);
    assert_held(&s.conversation("c1"), "b");
}

#[test]
fn r11_least_busy_offers_to_the_agent_with_fewest_open_conversations() {
    let s = team("least_busy", json!({}));
    let holders = three_served_ten_seconds_apart(&s);
    assert_eq!(
        sorted(&holders),
        ["a", "b", "c"],
        "each new conversation goes to an agent with none: {holders:?}"
    );
    // The agent served last (shortest idle) is the only one with no open conversation now.
    s.close("c3");
    assert_offered(&s.new_conversation("web", "c4"), &[holders[2].as_str()]);
}

#[test]
fn r11_least_busy_breaks_ties_by_longest_idle() {
    let s = team("least_busy", json!({}));
    let holders = three_served_ten_seconds_apart(&s);
    // Everyone has one open conversation: the one offered longest ago wins.
    assert_offered(&s.new_conversation("web", "c4"), &[holders[0].as_str()]);
}

#[test]
fn r11_longest_idle_offers_to_the_agent_whose_last_offer_is_the_longest_ago() {
    let s = team("longest_idle", json!({}));
    let holders = three_served_ten_seconds_apart(&s);
    assert_eq!(sorted(&holders), ["a", "b", "c"], "{holders:?}");
    // Unlike least_busy, how many conversations an agent holds does not matter.
    s.close("c3");
    for (id, agent) in [
        ("c4", &holders[0]),
        ("c5", &holders[1]),
        ("c6", &holders[2]),
    ] {
        assert_offered(&s.new_conversation("web", id), &[agent.as_str()]);
        s.advance(10);
    }
}

#[test]
fn r11_r14a_all_at_once_withdraws_only_the_offer_of_the_agent_who_left() {
    let s = team("all_at_once", json!({}));
    assert_offered(&s.new_conversation("web", "c1"), &["a", "b", "c"]);
    s.signal("b", "timesheet", "clock_out");
    let c1 = s.conversation("c1");
    assert_offered(&c1, &["a", "c"]);
    assert_history_has(&c1, &["offer_withdrawn"], "b", "not_working");
    let c1 = s.decline("c1", "a");
    assert_offered(&c1, &["c"]);
    assert_held(&s.accept("c1", "c"), "c");
}
