//! The engine's internal records, addressed by dense keys.

use std::collections::{BTreeMap, BTreeSet};

use crate::keymap::KeySet;

use crate::model::GroupDirectory;
use crate::model::{AgentId, AgentProfile, ChannelId, ChannelSettings, Conversation};
use crate::policy::{AgentKey, AgentStats};
use crate::source::AgentContext;
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// An agent, or a name some queue mentions before the agent exists (`profile: None`).
pub(crate) struct AgentSlot {
    pub id: AgentId,
    pub profile: Option<AgentProfile>,
    /// Channels whose queue holds the agent.
    pub memberships: Vec<usize>,
    /// The current verdict of every source, by source index (empty until the agent exists).
    pub verdicts: Vec<Verdict>,
    pub last_reply_at: Option<Timestamp>,
    pub last_offer_at: Option<Timestamp>,
    /// Conversations offered to or held by the agent, in arrival order.
    pub open: BTreeSet<usize>,
}

impl AgentSlot {
    pub fn new(id: AgentId) -> Self {
        Self {
            id,
            profile: None,
            memberships: Vec::new(),
            verdicts: Vec::new(),
            last_reply_at: None,
            last_offer_at: None,
            open: BTreeSet::new(),
        }
    }

    /// What sources may know of the agent (no groups while it is only a placeholder).
    pub fn context<'a>(&'a self, groups: &'a GroupDirectory) -> AgentContext<'a> {
        AgentContext {
            id: &self.id,
            groups: self
                .profile
                .as_ref()
                .map(|p| p.groups.as_slice())
                .unwrap_or_default(),
            group_settings: groups,
        }
    }

    pub fn stats(&self, queue_position: u32) -> AgentStats {
        AgentStats {
            queue_position,
            last_reply_at: self.last_reply_at,
            last_offer_at: self.last_offer_at,
            open_conversations: u32::try_from(self.open.len()).unwrap_or(u32::MAX),
        }
    }
}

pub(crate) struct ChannelSlot {
    pub id: ChannelId,
    pub settings: ChannelSettings,
    /// Indices of the sources this channel combines.
    pub sources: Vec<usize>,
    /// The queue's members and the policy's index of the eligible ones.
    pub members: super::members::Members,
    /// Waiting conversations by arrival number (SPEC R10).
    pub waiting: BTreeMap<u64, usize>,
}

pub(crate) struct ConversationSlot {
    pub public: Conversation,
    pub channel: usize,
    /// Arrival number: the conversation's place in its queue, kept when it returns.
    pub arrival: u64,
    pub offered: Vec<AgentKey>,
    pub holder: Option<AgentKey>,
    /// Agents skipped in this distribution round (SPEC R12); a set, since a long round of
    /// expiries can skip thousands and every candidate is checked against it.
    pub skipped: KeySet<AgentKey>,
    pub offer_deadline: Option<Timestamp>,
}
