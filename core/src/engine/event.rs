//! What the engine reports back: everything a subscriber, a metric or a log needs.

use serde::Serialize;

use crate::model::{AgentId, ChannelId, ConversationId, ReasonCode};
use crate::time::Timestamp;

/// Something that happened, at the instant it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    /// A conversation entered or returned to its channel's queue.
    #[serde(rename = "conversation.queued")]
    Queued {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
    },
    /// A conversation was offered to an agent.
    #[serde(rename = "conversation.offered")]
    Offered {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
        /// To whom.
        agent: AgentId,
    },
    /// An offer was taken back (expired, declined, availability, accepted by another…).
    #[serde(rename = "conversation.offer_withdrawn")]
    OfferWithdrawn {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
        /// From whom.
        agent: AgentId,
        /// Why, when a SPEC R14 code applies.
        reason: Option<ReasonCode>,
    },
    /// An agent accepted a conversation.
    #[serde(rename = "conversation.accepted")]
    Accepted {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
        /// The new holder.
        agent: AgentId,
    },
    /// A held conversation was taken from its holder and put back in the queue.
    #[serde(rename = "conversation.requeued")]
    Requeued {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
        /// The previous holder.
        agent: AgentId,
        /// Why (SPEC R14).
        reason: ReasonCode,
    },
    /// A conversation was closed.
    #[serde(rename = "conversation.closed")]
    Closed {
        /// When.
        at: Timestamp,
        /// Which conversation.
        conversation: ConversationId,
        /// Its channel.
        channel: ChannelId,
        /// Its holder, if any.
        agent: Option<AgentId>,
    },
    /// An agent became available or unavailable for a channel.
    #[serde(rename = "agent.availability_changed")]
    AvailabilityChanged {
        /// When.
        at: Timestamp,
        /// Which agent.
        agent: AgentId,
        /// For which channel.
        channel: ChannelId,
        /// The new state.
        available: bool,
        /// Why unavailable, when it is.
        reason: Option<ReasonCode>,
    },
}

impl Event {
    /// The SSE event type, e.g. `conversation.offered`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "conversation.queued",
            Self::Offered { .. } => "conversation.offered",
            Self::OfferWithdrawn { .. } => "conversation.offer_withdrawn",
            Self::Accepted { .. } => "conversation.accepted",
            Self::Requeued { .. } => "conversation.requeued",
            Self::Closed { .. } => "conversation.closed",
            Self::AvailabilityChanged { .. } => "agent.availability_changed",
        }
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::Queued { at, .. }
            | Self::Offered { at, .. }
            | Self::OfferWithdrawn { at, .. }
            | Self::Accepted { at, .. }
            | Self::Requeued { at, .. }
            | Self::Closed { at, .. }
            | Self::AvailabilityChanged { at, .. } => *at,
        }
    }

    /// The channel it concerns.
    pub fn channel(&self) -> &ChannelId {
        match self {
            Self::Queued { channel, .. }
            | Self::Offered { channel, .. }
            | Self::OfferWithdrawn { channel, .. }
            | Self::Accepted { channel, .. }
            | Self::Requeued { channel, .. }
            | Self::Closed { channel, .. }
            | Self::AvailabilityChanged { channel, .. } => channel,
        }
    }

    /// The agent it concerns, if any.
    pub fn agent(&self) -> Option<&AgentId> {
        match self {
            Self::Queued { .. } => None,
            Self::Closed { agent, .. } => agent.as_ref(),
            Self::Offered { agent, .. }
            | Self::OfferWithdrawn { agent, .. }
            | Self::Accepted { agent, .. }
            | Self::Requeued { agent, .. }
            | Self::AvailabilityChanged { agent, .. } => Some(agent),
        }
    }
}
