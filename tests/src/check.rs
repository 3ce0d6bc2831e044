//! Assertions shared by the test files: conversation states, history entries, error bodies
//! (R20) and "nothing changed" snapshots.

use serde_json::{Value, json};

use crate::api::{ids, sorted_strings};
use crate::http::Response;
use crate::server::Server;

/// Offered (not accepted) to exactly these agents, in any order.
#[track_caller]
pub fn assert_offered(conv: &Value, agents: &[&str]) {
    let mut want: Vec<String> = agents.iter().map(|a| (*a).to_owned()).collect();
    want.sort();
    assert!(
        conv["state"] == "offered"
            && sorted_strings(&conv["offered_to"]) == want
            && conv["agent"].is_null(),
        "expected conversation {} offered to {want:?}, got {conv:#}",
        conv["id"]
    );
}

/// The one agent the conversation is offered to.
#[track_caller]
pub fn offered_single(conv: &Value) -> String {
    let to = sorted_strings(&conv["offered_to"]);
    assert!(
        conv["state"] == "offered" && to.len() == 1,
        "expected an offer to one agent, got {conv:#}"
    );
    to[0].clone()
}

/// Accepted and held by `agent`.
#[track_caller]
pub fn assert_held(conv: &Value, agent: &str) {
    assert!(
        conv["state"] == "accepted" && conv["agent"] == agent,
        "expected conversation {} held by {agent}, got {conv:#}",
        conv["id"]
    );
}

/// Waiting in the queue: nobody holds it, nobody is offered it.
#[track_caller]
pub fn assert_waiting(conv: &Value) {
    let offered = conv["offered_to"].as_array().is_none_or(Vec::is_empty);
    assert!(
        conv["state"] == "queued" && conv["agent"].is_null() && offered,
        "expected conversation {} waiting in the queue, got {conv:#}",
        conv["id"]
    );
}

/// The history as (event, agent, reason) triples; absent agent/reason = "".
pub fn history(conv: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    conv["history"]
        .as_array()
        .unwrap_or_else(|| panic!("conversation without a history array: {conv:#}"))
        .iter()
        .map(|h| (text(&h["event"]), text(&h["agent"]), text(&h["reason"])))
        .collect()
}

/// The history has an entry with one of `events`, for `agent`, with reason code `reason`; an
/// empty `agent` or `reason` matches any.
#[track_caller]
pub fn assert_history_has(conv: &Value, events: &[&str], agent: &str, reason: &str) {
    let matches = |want: &str, got: &str| want.is_empty() || want == got;
    let found = history(conv)
        .iter()
        .any(|(e, a, r)| events.contains(&e.as_str()) && matches(agent, a) && matches(reason, r));
    assert!(
        found,
        "expected a history entry {events:?} for agent `{agent}` with reason `{reason}` in conversation {}: {:#}",
        conv["id"], conv["history"]
    );
}

/// The (event, agent) pairs appear in this order in the history (other entries may be
/// between); an empty agent matches any.
#[track_caller]
pub fn assert_history_in_order(conv: &Value, expected: &[(&str, &str)]) {
    let got = history(conv);
    let mut at = 0;
    for (event, agent) in expected {
        match got[at..]
            .iter()
            .position(|(e, a, _)| e == event && (agent.is_empty() || a == agent))
        {
            Some(i) => at += i + 1,
            None => panic!(
                "history of {} lacks ({event}, {agent}) after position {at}; expected in order {expected:?}, got {got:?}",
                conv["id"]
            ),
        }
    }
}

/// Waiting in the queue again, its history recording `event` for `agent` with reason code
/// `reason` (an offer withdrawn or a conversation requeued, SPEC R14).
#[track_caller]
pub fn assert_returned_to_queue(conv: &Value, event: &str, agent: &str, reason: &str) {
    assert_waiting(conv);
    assert_history_has(conv, &[event], agent, reason);
}

/// Offered to exactly `to` after `from` lost it: the history records one of `events` for
/// `from` with reason code `reason` (SPEC R12, R14).
#[track_caller]
pub fn assert_passed_on(conv: &Value, to: &[&str], events: &[&str], from: &str, reason: &str) {
    assert_offered(conv, to);
    assert_history_has(conv, events, from, reason);
}

/// Whether `message` names `needle`: case-insensitive substring; `a|b` = either; `=word` = a
/// whole word (letters, digits, `_`), for short field names such as `at` or `to`.
pub fn names(message: &str, needle: &str) -> bool {
    let lower = message.to_lowercase();
    needle.split('|').any(|n| match n.strip_prefix('=') {
        Some(word) => lower
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == word.to_lowercase()),
        None => lower.contains(&n.to_lowercase()),
    })
}

/// Checks a refusal: status, `{"error":{"code","message"}}`, and that the message names each
/// needle (see [`names`]).
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str, needles: &[&str]) {
    assert_eq!(
        r.status,
        status,
        "expected {status} {code}, got {} {}",
        r.status,
        r.text()
    );
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {:?}", r.text()));
    let error = &body["error"];
    assert_eq!(error["code"], code, "wrong error code in {body}");
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error.message is not a string: {body}"));
    assert!(!message.trim().is_empty(), "empty error message: {body}");
    for needle in needles {
        assert!(
            names(message, needle),
            "error message should name `{needle}`: {message:?}"
        );
    }
}

/// Everything a client can read, for "nothing changed" comparisons: agents (with their
/// availability and conversations), groups, channels (with queues) and the listed
/// conversations. Clock excluded.
pub fn snapshot(s: &Server, conversations: &[&str], groups: &[&str]) -> Value {
    let agents = s.get("/v1/agents");
    let mut per_agent = serde_json::Map::new();
    for id in ids(&agents["agents"]) {
        per_agent.insert(
            id.clone(),
            json!({
                "agent": s.get(&format!("/v1/agents/{id}")),
                "availability": s.get(&format!("/v1/agents/{id}/availability")),
                "conversations": s.get(&format!("/v1/agents/{id}/conversations")),
            }),
        );
    }
    let channels = s.get("/v1/channels");
    let mut per_channel = serde_json::Map::new();
    for id in ids(&channels["channels"]) {
        per_channel.insert(
            id.clone(),
            json!({"channel": s.get(&format!("/v1/channels/{id}")), "queue": s.get(&format!("/v1/channels/{id}/queue"))}),
        );
    }
    let groups: serde_json::Map<String, Value> = groups
        .iter()
        .map(|g| ((*g).to_owned(), s.get(&format!("/v1/groups/{g}"))))
        .collect();
    let convs: serde_json::Map<String, Value> = conversations
        .iter()
        .map(|c| ((*c).to_owned(), s.conversation(c)))
        .collect();
    json!({"agents": agents, "per_agent": per_agent, "channels": channels, "per_channel": per_channel,
           "groups": groups, "conversations": convs})
}

/// What a refusal test watches besides agents and channels (listed explicitly because
/// closed conversations and groups cannot be enumerated through the API).
#[derive(Debug, Clone, Copy, Default)]
pub struct Watch<'a> {
    /// Conversation ids.
    pub conversations: &'a [&'a str],
    /// Group ids.
    pub groups: &'a [&'a str],
}

impl<'a> Watch<'a> {
    /// Watches these conversations and no group.
    pub const fn conversations(conversations: &'a [&'a str]) -> Self {
        Self {
            conversations,
            groups: &[],
        }
    }
}

/// Sends a request that must be refused (R20) and checks the status, the error shape and
/// message (`expected` = status, code, needles), that no readable state changed, and that the
/// server still serves.
#[track_caller]
pub fn assert_refused(
    s: &mut Server,
    watch: Watch<'_>,
    method: &str,
    path: &str,
    body: &str,
    expected: (u16, &str, &[&str]),
) {
    let (status, code, needles) = expected;
    let before = snapshot(s, watch.conversations, watch.groups);
    let r = s.call_raw(method, path, Some(body.as_bytes()));
    let what = format!(
        "{method} {path} {}",
        body.chars().take(200).collect::<String>()
    );
    assert!(
        r.status == status,
        "{what}: expected {status}, got {} {}",
        r.status,
        r.text()
    );
    assert_error(&r, status, code, needles);
    assert!(s.is_running(), "{what}: the server stopped");
    let after = snapshot(s, watch.conversations, watch.groups);
    assert!(
        before == after,
        "{what} was refused but changed the state:\nbefore {before:#}\nafter {after:#}"
    );
}

/// The needles of a refusal of the unknown name `unknown` whose message must also list every
/// `valid` name (e.g. the registered sources).
pub fn unknown_and_valid<'a>(unknown: &'a str, valid: &[&'a str]) -> Vec<&'a str> {
    let mut needles = vec![unknown];
    needles.extend(valid);
    needles
}

/// What an error message about malformed JSON may say (any of these).
pub const MALFORMED: &str = "json|parse|syntax|expected|eof|malformed|end of";

/// [`assert_refused`] with 400 `invalid_request`.
#[track_caller]
pub fn assert_invalid(
    s: &mut Server,
    watch: Watch<'_>,
    method: &str,
    path: &str,
    body: &str,
    needles: &[&str],
) {
    assert_refused(
        s,
        watch,
        method,
        path,
        body,
        (400, "invalid_request", needles),
    );
}

/// [`assert_invalid`] for each `(body, needles)` of `cases`, in order, all sent as `method path`.
#[track_caller]
pub fn assert_each_invalid(
    s: &mut Server,
    watch: Watch<'_>,
    method: &str,
    path: &str,
    cases: &[(&str, &[&str])],
) {
    for (body, needles) in cases {
        assert_invalid(s, watch, method, path, body, needles);
    }
}

/// [`assert_refused`] with 409 `conflict` (the message may say anything).
#[track_caller]
pub fn assert_conflict(s: &mut Server, watch: Watch<'_>, method: &str, path: &str, body: &str) {
    assert_refused(s, watch, method, path, body, (409, "conflict", &[]));
}

/// [`assert_refused`] with 404 `not_found`, the message naming `missing`.
#[track_caller]
pub fn assert_not_found(
    s: &mut Server,
    watch: Watch<'_>,
    method: &str,
    path: &str,
    body: &str,
    missing: &str,
) {
    assert_refused(s, watch, method, path, body, (404, "not_found", &[missing]));
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn needles_match_substrings_alternatives_and_whole_words() {
        assert!(names("unknown source `fax`", "FAX"));
        assert!(names("bad json", "parse|json"));
        assert!(names("`at` is in the future", "=at"));
        assert!(!names("format error", "=at"));
        assert!(!names("nothing here", "x|y"));
    }
}
