//! The seed's "If an agent becomes unavailable" (SPEC R14a/b/c, R15, R16) and the reason
//! codes recorded in the history for each withdrawal and requeue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Agents `a` (online in the desktop messenger) and `b` (offline) on `web`, strict order.
fn a_online_b_offline() -> Server {
    let s = team_on_web(&["a", "b"], &[], json!({}));
    s.online("a");
    s
}

/// `a` accepts a new conversation `c1`.
fn a_holds_c1(s: &Server) {
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    assert_held(&s.accept("c1", "a"), "a");
}

/// [`a_online_b_offline`], then `b` comes online in the browser and `a` accepts `c1`.
fn both_online_a_holds_c1() -> Server {
    let s = a_online_b_offline();
    s.signal("b", "browser", "activity");
    a_holds_c1(&s);
    s
}

/// `a` holds `c1`, writes last and closes the messenger (R14b: `c1` stays with `a`); then `b`
/// comes online in the browser.
fn a_kept_c1_and_left_b_came() -> Server {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    s.agent_says("c1", "a");
    s.signal("a", "messenger", "close");
    s.signal("b", "browser", "activity");
    s
}

#[test]
fn r14a_unaccepted_offer_returns_to_queue_and_moves_on() {
    let s = a_online_b_offline();
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.signal("b", "browser", "activity");
    assert_offered(&s.conversation("c1"), &["a"]);
    s.signal("a", "messenger", "close");
    let c1 = s.conversation("c1");
    assert_passed_on(&c1, &["b"], &["offer_withdrawn"], "a", "offline");
    assert_history_in_order(
        &c1,
        &[("offered", "a"), ("offer_withdrawn", "a"), ("offered", "b")],
    );
    assert!(s.agent_conversations("a").is_empty());
}

#[test]
fn r14a_unaccepted_offer_waits_in_the_queue_while_nobody_is_available() {
    let s = a_online_b_offline();
    s.new_conversation("web", "c1");
    s.signal("a", "messenger", "close");
    assert_waiting(&s.conversation("c1"));
    assert_eq!(s.queue("web"), ["c1"]);
    s.signal("b", "browser", "activity");
    assert_offered(&s.conversation("c1"), &["b"]);
}

#[test]
fn r14b_accepted_with_the_agents_message_last_stays_with_the_agent() {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    assert_eq!(s.agent_says("c1", "a")["last_message_from"], "agent");
    s.signal("b", "browser", "activity");
    s.signal("a", "messenger", "close");
    assert!(!s.is_available("a", "web"));
    assert_held(&s.conversation("c1"), "a");
    s.advance(600);
    assert_held(&s.conversation("c1"), "a");
    assert_eq!(s.agent_conversations("a"), ["c1"]);
    assert!(s.agent_conversations("b").is_empty());
}

#[test]
fn r15_the_next_customer_message_sends_a_kept_conversation_back_at_once() {
    let s = a_kept_c1_and_left_b_came();
    assert_held(&s.conversation("c1"), "a");
    let c1 = s.customer_says("c1");
    assert_passed_on(&c1, &["b"], &["requeued"], "a", "offline");
    assert_eq!(c1["last_message_from"], "customer");
    assert!(s.agent_conversations("a").is_empty());
}

#[test]
fn r15_a_customer_message_after_the_agent_came_back_keeps_the_conversation() {
    let s = a_kept_c1_and_left_b_came();
    s.online("a");
    assert_held(&s.customer_says("c1"), "a");
}

#[test]
fn r14c_accepted_with_the_customers_message_last_returns_at_once() {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    assert_eq!(s.customer_says("c1")["last_message_from"], "customer");
    s.signal("b", "browser", "activity");
    s.signal("a", "messenger", "close");
    let c1 = s.conversation("c1");
    assert_passed_on(&c1, &["b"], &["requeued"], "a", "offline");
    assert_history_in_order(
        &c1,
        &[
            ("offered", "a"),
            ("accepted", "a"),
            ("requeued", "a"),
            ("offered", "b"),
        ],
    );
}

#[test]
fn r14_requeue_reason_on_leave() {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    let t = s.now();
    s.leave("a", "sick", t, plus(t, 86_400));
    assert_returned_to_queue(&s.conversation("c1"), "requeued", "a", "on_leave");
}

#[test]
fn r14_requeue_reason_dismissed() {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    s.signal("a", "hr", "dismissed");
    assert_returned_to_queue(&s.conversation("c1"), "requeued", "a", "dismissed");
}

#[test]
fn r14_removed_from_queue_withdraws_offers_and_requeues_customer_last_conversations() {
    let s = both_online_a_holds_c1();
    assert_offered(&s.new_conversation("web", "c2"), &["a"]);
    s.patch_channel("web", json!({"queue": ["b"]}));
    let (c1, c2) = (s.conversation("c1"), s.conversation("c2"));
    assert_offered(&c1, &["b"]);
    assert_offered(&c2, &["b"]);
    assert_history_has(&c1, &["requeued"], "a", "removed_from_queue");
    assert_history_has(&c2, &["offer_withdrawn"], "a", "removed_from_queue");
    assert!(s.agent_conversations("a").is_empty());
}

#[test]
fn r14_transfer_records_reason_transferred() {
    let s = both_online_a_holds_c1();
    let c1 = s.transfer("c1", Some("b"));
    assert_offered(&c1, &["b"]);
    // API.md leaves open whether the entry names the previous holder or the target: either.
    assert_history_has(&c1, &["transferred"], "", "transferred");
    assert_held(&s.accept("c1", "b"), "b");
}

#[test]
fn r14_only_channels_where_the_agent_is_unavailable_lose_conversations() {
    let s = Server::start();
    s.team("desk", &["a"], &[], json!({"sources": ["messenger"]}));
    s.put_channel("web", &["a"], json!({"sources": ["browser"]}));
    s.online("a");
    s.signal("a", "browser", "activity");
    assert_offered(&s.new_conversation("desk", "d1"), &["a"]);
    assert_offered(&s.new_conversation("web", "w1"), &["a"]);
    s.signal("a", "messenger", "close");
    assert_waiting(&s.conversation("d1"));
    assert_offered(&s.conversation("w1"), &["a"]);
}

#[test]
fn r16_a_channel_with_the_check_off_never_takes_conversations_away() {
    let s = a_online_b_offline();
    s.patch_channel("web", json!({"check_availability": false}));
    a_holds_c1(&s);
    assert_offered(&s.new_conversation("web", "c2"), &["a"]);
    s.signal("a", "messenger", "close");
    s.advance(60);
    assert_held(&s.conversation("c1"), "a");
    assert_offered(&s.conversation("c2"), &["a"]);
    let c1 = s.customer_says("c1");
    assert_held(&c1, "a");
    assert!(
        history(&c1).iter().all(|(event, _, _)| event != "requeued"),
        "{:#}",
        c1["history"]
    );
}

#[test]
fn r15_a_kept_conversation_returns_on_the_customers_message_with_the_agents_reason() {
    let s = a_online_b_offline();
    a_holds_c1(&s);
    s.agent_says("c1", "a");
    let t = s.now();
    s.leave("a", "sick", t, plus(t, 86_400));
    assert_held(&s.conversation("c1"), "a");
    assert_returned_to_queue(&s.customer_says("c1"), "requeued", "a", "on_leave");
}

#[test]
fn r14b_removed_from_queue_keeps_a_conversation_where_the_agent_wrote_last() {
    let s = both_online_a_holds_c1();
    s.agent_says("c1", "a");
    s.patch_channel("web", json!({"queue": ["b"]}));
    assert_held(&s.conversation("c1"), "a");
    let c1 = s.customer_says("c1");
    assert_passed_on(&c1, &["b"], &["requeued"], "a", "removed_from_queue");
}

#[test]
fn r16_only_the_channel_with_the_check_on_takes_the_conversation_back() {
    let s = Server::start();
    s.team("checked", &["a"], &[], json!({}));
    s.put_channel("unchecked", &["a"], json!({"check_availability": false}));
    s.mobile_in_background("a");
    for (channel, id) in [("checked", "k1"), ("unchecked", "u1")] {
        s.new_conversation(channel, id);
        assert_held(&s.accept(id, "a"), "a");
    }
    s.advance(300); // the background grace ends: offline
    assert_returned_to_queue(&s.conversation("k1"), "requeued", "a", "offline");
    assert_held(&s.conversation("u1"), "a");
}
