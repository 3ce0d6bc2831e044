//! Typed helpers for the endpoints of API.md; each asserts the status it expects and fails
//! with the request, the status and the body.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::http::{self, Response};
use crate::server::Server;

/// The five bundled sources, as a channel's `sources`.
pub const ALL_SOURCES: [&str; 5] = ["hr", "timesheet", "messenger", "mobile", "browser"];
/// The six built-in policies.
pub const ALL_POLICIES: [&str; 6] = [
    "evenly",
    "round_robin",
    "strict_order",
    "all_at_once",
    "least_busy",
    "longest_idle",
];

/// RFC 3339 text of an instant, keeping any fraction of a second.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 timestamp from the API.
pub fn parse_ts(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// `t + seconds`.
pub fn plus(t: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    t + chrono::Duration::seconds(seconds)
}

impl Server {
    /// Any request with an optional JSON body; the raw response.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialize body"));
        self.call_raw(method, path, bytes.as_deref())
    }

    /// Any request with raw body bytes, with the server's default token if one is set
    /// ([`Server::set_token`]).
    pub fn call_raw(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        self.call_as(self.token(), method, path, body)
    }

    /// Any request with raw body bytes, presenting `token` (none: no `Authorization`).
    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Response {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("Authorization", b))
            .into_iter()
            .collect();
        http::send_with(self.port, method, path, body, &headers)
            .unwrap_or_else(|e| panic!("{method} {path}: no response ({e})\n{}", self.log_tail()))
    }

    /// Creates a token through the admin API (as the default token, or the local caller);
    /// its secret.
    pub fn create_token(&self, name: &str, role: &str, agent: Option<&str>) -> String {
        let body = json!({"name": name, "role": role, "agent": agent});
        let created = self.expect("POST", "/v1/tokens", Some(body), &[201]);
        created["token"].as_str().expect("the secret").to_owned()
    }

    /// A request that must answer one of `statuses`; its JSON body.
    pub fn expect(&self, method: &str, path: &str, body: Option<Value>, statuses: &[u16]) -> Value {
        let r = self.call(method, path, body.as_ref());
        assert!(
            statuses.contains(&r.status),
            "{method} {path} {} -> {} {}; expected {statuses:?}",
            body.map(|b| b.to_string()).unwrap_or_default(),
            r.status,
            r.text()
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// `GET path` → 200, JSON.
    pub fn get(&self, path: &str) -> Value {
        self.expect("GET", path, None, &[200])
    }

    /// `PUT /v1/agents/{id}` with a name derived from the id.
    pub fn put_agent(&self, id: &str, groups: &[&str]) -> Value {
        self.expect(
            "PUT",
            &format!("/v1/agents/{id}"),
            Some(json!({"name": id.to_uppercase(), "groups": groups})),
            &[200, 201],
        )
    }

    /// `PUT /v1/groups/{id}` → 200 (API.md says 200, created or not).
    pub fn put_group(&self, id: &str, session_lifetime_minutes: Option<u32>) -> Value {
        let body = json!({"session_lifetime_minutes": session_lifetime_minutes});
        self.expect("PUT", &format!("/v1/groups/{id}"), Some(body), &[200])
    }

    /// `PUT /v1/channels/{id}`: check on, all five sources, `strict_order`, no capacity limit,
    /// 120 s offers, the given queue; `overrides` replace any of those fields.
    pub fn put_channel(&self, id: &str, queue: &[&str], overrides: Value) -> Value {
        let mut body = json!({
            "name": format!("Channel {id}"), "check_availability": true, "sources": ALL_SOURCES,
            "policy": "strict_order", "queue": queue, "max_chats": null, "offer_timeout_seconds": 120,
        });
        if let (Some(b), Some(o)) = (body.as_object_mut(), overrides.as_object()) {
            b.extend(o.clone());
        }
        self.expect(
            "PUT",
            &format!("/v1/channels/{id}"),
            Some(body),
            &[200, 201],
        )
    }

    /// `PATCH /v1/channels/{id}` → 200.
    pub fn patch_channel(&self, id: &str, body: Value) -> Value {
        self.expect("PATCH", &format!("/v1/channels/{id}"), Some(body), &[200])
    }

    /// `POST /v1/signals` with one full signal object (or an array) → 200.
    pub fn signal_with(&self, body: Value) -> Value {
        self.expect("POST", "/v1/signals", Some(body), &[200])
    }

    /// `POST /v1/signals` `{agent, source, event}` at the server's now.
    pub fn signal(&self, agent: &str, source: &str, event: &str) -> Value {
        self.signal_with(json!({"agent": agent, "source": source, "event": event}))
    }

    /// Creates the agents in the WTM group `shift` and clocks them in: available until told
    /// otherwise, whatever time passes (R5 grant).
    pub fn working(&self, agents: &[&str]) {
        for agent in agents {
            self.put_agent(agent, &["shift"]);
            self.signal(agent, "timesheet", "clock_in");
        }
    }

    /// Makes the agent online through the desktop messenger (online for 2 min, R6).
    pub fn online(&self, agent: &str) {
        self.signal(agent, "messenger", "open");
    }

    /// Opens the mobile app and sends it to the background: online until the background grace
    /// ends (R7).
    pub fn mobile_in_background(&self, agent: &str) {
        self.signal(agent, "mobile", "foreground");
        self.signal(agent, "mobile", "background");
    }

    /// An hr leave `[from, to)` with the given id.
    pub fn leave(&self, agent: &str, id: &str, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.signal_with(json!({"agent": agent, "source": "hr", "event": "leave", "id": id, "from": ts(from), "to": ts(to)}));
    }

    /// `POST /v1/channels/{channel}/conversations` with a client id and a first message → 201.
    pub fn new_conversation(&self, channel: &str, id: &str) -> Value {
        let body =
            json!({"id": id, "customer": format!("customer-{id}"), "text": "Hello, I need help"});
        self.expect(
            "POST",
            &format!("/v1/channels/{channel}/conversations"),
            Some(body),
            &[201],
        )
    }

    /// Opens conversation `id` on `channel` and has `agent` accept it (→ 201, 200); the
    /// accepted conversation.
    pub fn serve(&self, channel: &str, id: &str, agent: &str) -> Value {
        self.new_conversation(channel, id);
        self.accept(id, agent)
    }

    /// `GET /v1/conversations/{id}`.
    pub fn conversation(&self, id: &str) -> Value {
        self.get(&format!("/v1/conversations/{id}"))
    }

    fn conversation_action(&self, id: &str, action: &str, body: Value) -> Value {
        self.expect(
            "POST",
            &format!("/v1/conversations/{id}/{action}"),
            Some(body),
            &[200],
        )
    }

    /// `accept` → 200.
    pub fn accept(&self, id: &str, agent: &str) -> Value {
        self.conversation_action(id, "accept", json!({"agent": agent}))
    }

    /// `decline` → 200.
    pub fn decline(&self, id: &str, agent: &str) -> Value {
        self.conversation_action(id, "decline", json!({"agent": agent}))
    }

    /// A customer message → 200.
    pub fn customer_says(&self, id: &str) -> Value {
        self.conversation_action(
            id,
            "messages",
            json!({"from": "customer", "text": "Are you there?"}),
        )
    }

    /// An agent message → 200.
    pub fn agent_says(&self, id: &str, agent: &str) -> Value {
        self.conversation_action(
            id,
            "messages",
            json!({"from": "agent", "agent": agent, "text": "Let me check."}),
        )
    }

    /// `transfer` to an agent or (None) back to the queue → 200.
    pub fn transfer(&self, id: &str, to: Option<&str>) -> Value {
        self.conversation_action(id, "transfer", json!({ "to": to }))
    }

    /// `close` → 200.
    pub fn close(&self, id: &str) -> Value {
        self.expect(
            "POST",
            &format!("/v1/conversations/{id}/close"),
            None,
            &[200],
        )
    }

    /// `POST /v1/clock/advance` → 200; the new now.
    pub fn advance(&self, seconds: i64) -> DateTime<Utc> {
        let out = self.expect(
            "POST",
            "/v1/clock/advance",
            Some(json!({"seconds": seconds})),
            &[200],
        );
        parse_ts(
            out["now"]
                .as_str()
                .unwrap_or_else(|| panic!("advance answered {out}")),
        )
    }

    /// The server clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        let out = self.get("/v1/clock");
        parse_ts(
            out["now"]
                .as_str()
                .unwrap_or_else(|| panic!("/v1/clock answered {out}")),
        )
    }

    /// The agent's availability entry for one channel (R17).
    pub fn availability(&self, agent: &str, channel: &str) -> Value {
        let out = self.get(&format!("/v1/agents/{agent}/availability"));
        out["channels"]
            .as_array()
            .and_then(|chs| chs.iter().find(|c| c["channel"] == channel))
            .cloned()
            .unwrap_or_else(|| {
                panic!("{agent} has no availability entry for channel {channel}: {out}")
            })
    }

    /// Whether the agent is available for the channel.
    pub fn is_available(&self, agent: &str, channel: &str) -> bool {
        let entry = self.availability(agent, channel);
        entry["available"]
            .as_bool()
            .unwrap_or_else(|| panic!("`available` is not a bool: {entry}"))
    }

    /// `source`'s verdict on `agent` for `channel` is `online` until exactly `until` (R17).
    #[track_caller]
    pub fn assert_online_until(
        &self,
        agent: &str,
        channel: &str,
        source: &str,
        until: DateTime<Utc>,
    ) {
        let v = self.verdict(agent, channel, source);
        assert_eq!(v["verdict"], "online", "{v}");
        assert_eq!(
            verdict_until(&v),
            until,
            "{source} verdict must say when it changes: {v}"
        );
    }

    /// Probes a timeout to the second: advances the clock `seconds - 1` and checks that the
    /// agent is still available for the channel, then 1 more and checks that it is not.
    #[track_caller]
    pub fn assert_available_for(&self, agent: &str, channel: &str, seconds: i64) {
        self.advance(seconds - 1);
        assert!(
            self.is_available(agent, channel),
            "{agent} should still be available on {channel} after {} s: {}",
            seconds - 1,
            self.availability(agent, channel)
        );
        self.advance(1);
        assert!(
            !self.is_available(agent, channel),
            "{agent} should be unavailable on {channel} after {seconds} s: {}",
            self.availability(agent, channel)
        );
    }

    /// One source's verdict object in the agent's entry for the channel.
    pub fn verdict(&self, agent: &str, channel: &str, source: &str) -> Value {
        let entry = self.availability(agent, channel);
        entry["verdicts"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["source"] == source))
            .cloned()
            .unwrap_or_else(|| panic!("no verdict of source {source} in {entry}"))
    }

    /// `source`'s verdict on `agent` for `channel` is `verdict`, with a reason that starts with
    /// `reason` (R17: a verdict explains itself).
    #[track_caller]
    pub fn assert_verdict(
        &self,
        agent: &str,
        channel: &str,
        source: &str,
        verdict: &str,
        reason: &str,
    ) {
        let v = self.verdict(agent, channel, source);
        assert_eq!(v["verdict"], verdict, "{v}");
        let said = v["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("no reason in the verdict {v}"));
        assert!(
            said.starts_with(reason),
            "reason should start with {reason:?}: {v}"
        );
    }

    /// Ids of the conversations waiting in the channel's queue, in order.
    pub fn queue(&self, channel: &str) -> Vec<String> {
        ids(&self.get(&format!("/v1/channels/{channel}/queue"))["conversations"])
    }

    /// Ids of the conversations offered to or held by the agent.
    pub fn agent_conversations(&self, agent: &str) -> Vec<String> {
        ids(&self.get(&format!("/v1/agents/{agent}/conversations"))["conversations"])
    }
}

/// The instant a verdict object says it changes by itself (its `until`); fails without one.
#[track_caller]
pub fn verdict_until(verdict: &Value) -> DateTime<Utc> {
    let until = verdict["until"]
        .as_str()
        .unwrap_or_else(|| panic!("no `until` in the verdict {verdict}"));
    parse_ts(until)
}

/// The `id`s of an array of objects.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array of objects with ids, got {list}"))
        .iter()
        .map(|c| {
            c["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id in {c}"))
                .to_owned()
        })
        .collect()
}

/// The strings of a JSON array, sorted.
pub fn sorted_strings(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
