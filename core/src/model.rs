//! Domain types shared by the engine, the plugins and the server (SPEC "Words").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// An agent's id, as used in the API (cheap to clone).
pub type AgentId = Arc<str>;
/// A channel's id, as used in the API (cheap to clone).
pub type ChannelId = Arc<str>;
/// A conversation's id, as used in the API (cheap to clone).
pub type ConversationId = Arc<str>;

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

/// Settings of a user group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    /// Browser session lifetime (SPEC R8); `None` = the browser source's default.
    #[serde(default)]
    pub session_lifetime_minutes: Option<u32>,
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

/// Why a conversation was withdrawn from or requeued away from an agent (SPEC R14).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// The agent was dismissed.
    Dismissed,
    /// The agent is on leave.
    OnLeave,
    /// Working Time management: not clocked in, or on a break.
    NotWorking,
    /// No presence source says the agent is online.
    Offline,
    /// The agent left the channel's queue.
    RemovedFromQueue,
    /// The offer was not accepted in time.
    OfferExpired,
    /// The agent declined the offer.
    Declined,
    /// The conversation was transferred.
    Transferred,
    /// A custom source's own code.
    Custom(String),
}

impl ReasonCode {
    /// The snake_case code used in the API.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Dismissed => "dismissed",
            Self::OnLeave => "on_leave",
            Self::NotWorking => "not_working",
            Self::Offline => "offline",
            Self::RemovedFromQueue => "removed_from_queue",
            Self::OfferExpired => "offer_expired",
            Self::Declined => "declined",
            Self::Transferred => "transferred",
            Self::Custom(code) => code,
        }
    }

    /// Parses an API code; anything not built in is a custom source's code.
    pub fn parse(code: &str) -> Self {
        match code {
            "dismissed" => Self::Dismissed,
            "on_leave" => Self::OnLeave,
            "not_working" => Self::NotWorking,
            "offline" => Self::Offline,
            "removed_from_queue" => Self::RemovedFromQueue,
            "offer_expired" => Self::OfferExpired,
            "declined" => Self::Declined,
            "transferred" => Self::Transferred,
            other => Self::Custom(other.to_owned()),
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(Self::parse(&code))
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
    /// Every offer, acceptance, withdrawal and requeue (SPEC R17).
    pub history: Vec<HistoryEntry>,
}

impl Conversation {
    /// True while the conversation is not closed.
    pub fn is_open(&self) -> bool {
        self.state != ConversationState::Closed
    }
}
