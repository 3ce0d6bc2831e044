//! Domain types shared by the engine, the plugins and the server (SPEC "Words").

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

pub use crate::id::{AgentId, ChannelId, ConversationId};

/// What the engine knows of an agent besides its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// Display name.
    pub name: String,
    /// User groups the agent belongs to (WTM scope R5, session lifetime R8).
    #[serde(default)]
    pub groups: Vec<String>,
    /// IANA time zone name, informational.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Settings of a user group: values keyed by setting name. Which keys exist, and what they
/// mean, is declared by the sources that read them ([`crate::source::GroupSetting`]; e.g. a
/// session lifetime, SPEC R8); the engine validates a group's settings against those
/// declarations and never interprets a value itself. A key that is absent means "the
/// source's default", and so does `null` (as logs written before sources declared their
/// group settings have it: `{"session_lifetime_minutes": null}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct GroupSettings(BTreeMap<String, serde_json::Value>);

impl<'de> Deserialize<'de> for GroupSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        Ok(values.into_iter().collect())
    }
}

impl GroupSettings {
    /// No setting: every source uses its default for the group.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if the group sets it.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// Sets `key` (a `null` value removes it: back to the default).
    pub fn set(&mut self, key: impl Into<String>, value: serde_json::Value) -> &mut Self {
        let key = key.into();
        if value.is_null() {
            self.0.remove(&key);
        } else {
            self.0.insert(key, value);
        }
        self
    }

    /// Every set key with its value, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>> FromIterator<(K, serde_json::Value)> for GroupSettings {
    fn from_iter<I: IntoIterator<Item = (K, serde_json::Value)>>(iter: I) -> Self {
        let mut settings = Self::new();
        for (key, value) in iter {
            settings.set(key, value);
        }
        settings
    }
}

/// All known user groups by id.
pub type GroupDirectory = BTreeMap<String, GroupSettings>;

/// A channel's routing settings (SPEC R1, R10–R12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSettings {
    /// Display name.
    pub name: String,
    /// SPEC R1: route only to agents available for this channel.
    pub check_availability: bool,
    /// Names of the availability sources this channel combines.
    pub sources: Vec<String>,
    /// Name of the routing policy.
    pub policy: String,
    /// The ordered agent queue.
    pub queue: Vec<AgentId>,
    /// Most conversations (offered or accepted, across all channels) an agent may have to be
    /// offered one more here; `None` = no limit.
    pub max_chats: Option<u32>,
    /// How long an offer waits for acceptance (SPEC R12).
    pub offer_timeout: Duration,
}

impl ChannelSettings {
    /// Default offer timeout (SPEC R12): two minutes.
    pub const DEFAULT_OFFER_TIMEOUT: Duration = Duration::from_secs(120);
    /// Longest offer timeout accepted: one day (an offer nobody answers must move on).
    pub const MAX_OFFER_TIMEOUT: Duration = Duration::from_secs(86_400);
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The customer.
    Customer,
    /// An agent.
    Agent,
}

/// The lifecycle state of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// Waiting in the channel's queue.
    Queued,
    /// Offered to one or more agents, not yet accepted.
    Offered,
    /// Held by an agent.
    Accepted,
    /// Finished.
    Closed,
}

/// Why a conversation was withdrawn from or requeued away from an agent (SPEC R14), as the
/// snake_case code the API shows.
///
/// The engine's own codes are the associated constants; every other code belongs to the
/// source that emits it and is declared by it ([`crate::source::Source::reason_codes`]),
/// e.g. a leave's code. Cloning a code made with [`ReasonCode::from_static`] never allocates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReasonCode(Cow<'static, str>);

impl ReasonCode {
    /// No presence source says the agent is online (also: unavailable for no stated reason).
    pub const OFFLINE: Self = Self::from_static("offline");
    /// The agent left the channel's queue (or was never created).
    pub const REMOVED_FROM_QUEUE: Self = Self::from_static("removed_from_queue");
    /// The offer was not accepted in time (SPEC R12).
    pub const OFFER_EXPIRED: Self = Self::from_static("offer_expired");
    /// The agent declined the offer (SPEC R12).
    pub const DECLINED: Self = Self::from_static("declined");
    /// The conversation was transferred.
    pub const TRANSFERRED: Self = Self::from_static("transferred");

    /// A code known at compile time, e.g. a source's `ReasonCode::from_static("away")`.
    pub const fn from_static(code: &'static str) -> Self {
        Self(Cow::Borrowed(code))
    }

    /// A code read at run time (a log record, a config-defined source).
    pub fn new(code: impl Into<String>) -> Self {
        Self(Cow::Owned(code.into()))
    }

    /// The snake_case code used in the API.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a conversation, as recorded in its history (SPEC R17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEvent {
    /// Entered the queue (first arrival).
    Queued,
    /// Offered to an agent.
    Offered,
    /// An offer was taken back (availability, queue removal, another agent accepted).
    OfferWithdrawn,
    /// An offer was not accepted in time.
    OfferExpired,
    /// An agent declined the offer.
    Declined,
    /// An agent accepted.
    Accepted,
    /// Taken from its holder and put back in the queue.
    Requeued,
    /// Transferred to another agent or to the queue.
    Transferred,
    /// Closed.
    Closed,
}

/// One line of a conversation's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub event: HistoryEvent,
    /// The agent concerned, if any.
    pub agent: Option<AgentId>,
    /// Why, where a reason code applies.
    pub reason: Option<ReasonCode>,
    /// Who caused it (SPEC R28): the name of the caller whose request it followed from, or
    /// `None` for the router's own decisions (routing, timeouts).
    #[serde(default)]
    pub by: Option<String>,
}

/// A customer's conversation on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Unique id.
    pub id: ConversationId,
    /// The channel it arrived on.
    pub channel: ChannelId,
    /// The customer's id.
    pub customer: String,
    /// Current state.
    pub state: ConversationState,
    /// The holder once accepted, else `None`.
    pub agent: Option<AgentId>,
    /// Agents the conversation is currently offered to.
    pub offered_to: Vec<AgentId>,
    /// Who wrote the last message.
    pub last_message_from: Option<Author>,
    /// First arrival instant; queue order follows it (SPEC R10).
    pub queued_at: Timestamp,
    /// Its latest offers, acceptances, withdrawals and requeues, oldest first (SPEC R17): at
    /// most [`Conversation::MAX_HISTORY`] entries.
    pub history: VecDeque<HistoryEntry>,
    /// How many older entries were dropped to keep the history bounded (SPEC R21d).
    #[serde(default)]
    pub history_omitted: u64,
    /// When it was closed.
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
}

impl Conversation {
    /// The most history entries a conversation keeps (SPEC R21d): one nobody accepts may
    /// cycle offers for days without growing past it.
    pub const MAX_HISTORY: usize = 200;

    /// Appends `entry`, dropping the oldest one when the history is full.
    pub fn remember(&mut self, entry: HistoryEntry) {
        while self.history.len() >= Self::MAX_HISTORY {
            self.history.pop_front();
            self.history_omitted += 1;
        }
        self.history.push_back(entry);
    }

    /// True while the conversation is not closed.
    pub fn is_open(&self) -> bool {
        self.state != ConversationState::Closed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn r8_group_settings_keep_what_is_set_and_null_means_the_default() {
        let mut settings: GroupSettings =
            [("a", json!(1)), ("b", json!(null))].into_iter().collect();
        assert_eq!(settings.get("a"), Some(&json!(1)));
        assert_eq!(settings.get("b"), None, "null = default = absent");
        settings.set("c", json!("x")).set("a", json!(null));
        let all: Vec<(&str, &serde_json::Value)> = settings.iter().collect();
        assert_eq!(all, [("c", &json!("x"))]);
        assert_eq!(serde_json::to_value(&settings).unwrap(), json!({"c": "x"}));
        let read: GroupSettings =
            serde_json::from_value(json!({"session_lifetime_minutes": 30})).unwrap();
        assert_eq!(read.get("session_lifetime_minutes"), Some(&json!(30)));
        // A group logged before sources declared their settings: null means the default.
        let old: GroupSettings =
            serde_json::from_value(json!({"session_lifetime_minutes": null})).unwrap();
        assert_eq!(old, GroupSettings::new());
    }

    #[test]
    fn r14_reason_codes_read_and_write_as_their_text() {
        let code = ReasonCode::new("in_meeting");
        assert_eq!(
            (code.as_str(), code.to_string()),
            ("in_meeting", "in_meeting".to_owned())
        );
        assert_eq!(code, ReasonCode::from_static("in_meeting"));
        assert_eq!(
            serde_json::to_value(&ReasonCode::OFFLINE).unwrap(),
            json!("offline")
        );
        let read: ReasonCode = serde_json::from_value(json!("declined")).unwrap();
        assert_eq!(read, ReasonCode::DECLINED);
    }
}
