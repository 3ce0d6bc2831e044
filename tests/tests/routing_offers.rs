//! Offers: timeout, decline, skip list and new rounds, accepting what was not offered
//! (SPEC R12), and the reason codes `offer_expired` and `declined` (R14).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

#[test]
fn r12_offer_timeout_defaults_to_two_minutes_then_moves_on() {
    let s = Server::start();
    s.working(&["a", "b"]);
    let body = json!({"name": "Web", "check_availability": true, "sources": ALL_SOURCES,
                      "policy": "strict_order", "queue": ["a", "b"]});
    s.expect("PUT", "/v1/channels/web", Some(body), &[201]);
    assert_eq!(s.get("/v1/channels/web")["offer_timeout_seconds"], 120);
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.advance(119);
    assert_offered(&s.conversation("c1"), &["a"]);
    s.advance(1);
    let c1 = s.conversation("c1");
    let expired = ["offer_expired", "offer_withdrawn"];
    assert_passed_on(&c1, &["b"], &expired, "a", "offer_expired");
    assert!(s.agent_conversations("a").is_empty());
}

#[test]
fn r12_channel_offer_timeout_is_honoured() {
    let s = clocked_in_on_web(&["a", "b"], json!({"offer_timeout_seconds": 30}));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    s.advance(29);
    assert_offered(&s.conversation("c1"), &["a"]);
    s.advance(1);
    assert_offered(&s.conversation("c1"), &["b"]);
    s.advance(30);
    // Both skipped: a new round starts with `a`.
    assert_offered(&s.conversation("c1"), &["a"]);
}

#[test]
fn r12_decline_moves_the_offer_on_at_once() {
    let s = clocked_in_on_web(&["a", "b", "c"], json!({}));
    s.new_conversation("web", "c1");
    let c1 = s.decline("c1", "a");
    let declined = ["declined", "offer_withdrawn"];
    assert_passed_on(&c1, &["b"], &declined, "a", "declined");
    // A skipped agent is not offered the same conversation again in this round.
    let c1 = s.decline("c1", "b");
    assert_offered(&c1, &["c"]);
}

#[test]
fn r12_when_every_eligible_agent_was_skipped_a_new_round_starts() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    s.new_conversation("web", "c1");
    s.decline("c1", "a");
    let c1 = s.decline("c1", "b");
    assert_offered(&c1, &["a"]);
    assert_history_in_order(
        &c1,
        &[
            ("offered", "a"),
            ("declined", "a"),
            ("offered", "b"),
            ("declined", "b"),
            ("offered", "a"),
        ],
    );
}

#[test]
fn r12_an_agent_who_declined_is_still_offered_other_conversations() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    s.new_conversation("web", "c1");
    s.decline("c1", "a");
    assert_offered(&s.new_conversation("web", "c2"), &["a"]);
}

#[test]
fn r12_accepting_a_conversation_not_offered_to_you_is_a_conflict() {
    let mut s = clocked_in_on_web(&["a", "b"], json!({}));
    assert_offered(&s.new_conversation("web", "c1"), &["a"]);
    let watch = Watch::conversations(&["c1"]);
    let body = json!({"agent": "b"}).to_string();
    for action in ["accept", "decline"] {
        let path = format!("/v1/conversations/c1/{action}");
        assert_conflict(&mut s, watch, "POST", &path, &body);
    }
    s.accept("c1", "a");
    // Accepted by `a`: `b` still may not take it.
    assert_conflict(&mut s, watch, "POST", "/v1/conversations/c1/accept", &body);
    assert_held(&s.conversation("c1"), "a");
}

#[test]
fn r12_an_expired_offer_cannot_be_accepted() {
    let mut s = clocked_in_on_web(&["a", "b"], json!({}));
    s.new_conversation("web", "c1");
    s.advance(120);
    let body = json!({"agent": "a"}).to_string();
    let watch = Watch::conversations(&["c1"]);
    assert_conflict(&mut s, watch, "POST", "/v1/conversations/c1/accept", &body);
    assert_held(&s.accept("c1", "b"), "b");
}

#[test]
fn r12_an_accepted_offer_no_longer_times_out() {
    let s = clocked_in_on_web(&["a", "b"], json!({}));
    s.new_conversation("web", "c1");
    s.advance(119);
    s.accept("c1", "a");
    s.advance(3600);
    assert_held(&s.conversation("c1"), "a");
}
