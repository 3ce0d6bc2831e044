//! What the engine can be asked to do. Commands are plain data (serializable), so a caller
//! can log them and replay them to rebuild the same state (SPEC R19).

use serde::{Deserialize, Serialize};

use crate::model::{
    AgentId, AgentProfile, Author, ChannelId, ChannelSettings, ConversationId, GroupSettings,
};
use crate::source::Signal;

/// One request to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Create or replace an agent.
    PutAgent {
        /// The agent's id.
        id: AgentId,
        /// Name, groups, time zone.
        profile: AgentProfile,
    },
    /// Create or replace a user group's settings.
    PutGroup {
        /// The group's id.
        id: String,
        /// Its settings.
        settings: GroupSettings,
    },
    /// Create or replace a channel (a PATCH is a read-modify-write of this).
    PutChannel {
        /// The channel's id.
        id: ChannelId,
        /// Its full settings.
        settings: ChannelSettings,
    },
    /// Signals for sources, applied all-or-nothing.
    Signals {
        /// The batch, in order.
        signals: Vec<Signal>,
    },
    /// A new conversation; re-sending an existing id changes nothing.
    OpenConversation {
        /// The channel it arrives on.
        channel: ChannelId,
        /// Its id (callers generate one when the client gave none).
        id: ConversationId,
        /// The customer's id.
        customer: String,
        /// Whether it starts with a customer message.
        with_message: bool,
    },
    /// A message in a conversation (SPEC R15).
    Message {
        /// The conversation.
        conversation: ConversationId,
        /// Who wrote it.
        from: Author,
        /// The writing agent, when `from` is an agent.
        agent: Option<AgentId>,
    },
    /// An agent accepts an offer.
    Accept {
        /// The conversation.
        conversation: ConversationId,
        /// The accepting agent.
        agent: AgentId,
    },
    /// An agent declines an offer (SPEC R12).
    Decline {
        /// The conversation.
        conversation: ConversationId,
        /// The declining agent.
        agent: AgentId,
    },
    /// Offer to a named agent, or put back in the queue with `None`.
    Transfer {
        /// The conversation.
        conversation: ConversationId,
        /// The new agent, or `None` for the queue.
        to: Option<AgentId>,
    },
    /// Close a conversation.
    Close {
        /// The conversation.
        conversation: ConversationId,
    },
}

impl Command {
    /// `agent` accepts (or, with `accepts` false, declines) the offer of `conversation`.
    pub fn answer(conversation: ConversationId, agent: AgentId, accepts: bool) -> Self {
        if accepts {
            Self::Accept {
                conversation,
                agent,
            }
        } else {
            Self::Decline {
                conversation,
                agent,
            }
        }
    }
}
