//! Read access to the engine's state, including the availability explanation (SPEC R17).

use serde::Serialize;

use super::Engine;
use crate::model::{
    AgentId, AgentProfile, ChannelId, ChannelSettings, Conversation, GroupSettings, ReasonCode,
};
use crate::verdict::Verdict;

/// One source's verdict, as shown in an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceVerdict {
    /// The source's name.
    pub source: String,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Why an agent is or is not available for one channel (SPEC R17).
///
/// `available` is what routing goes by (SPEC R1): with the channel's check off every agent of
/// its queue is eligible as far as availability goes, so it is true there, with no reason,
/// whatever the sources say; `sources_available` and `sources_reason` keep what they say
/// (what routing would go by once the check is turned on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelAvailability {
    /// The channel.
    pub channel: ChannelId,
    /// The channel's R1 switch.
    pub check_availability: bool,
    /// Whether routing counts the agent as available on this channel (SPEC R1, R10).
    pub available: bool,
    /// Why not, as R14 would record it; `None` when available.
    pub reason: Option<ReasonCode>,
    /// The combined answer of the channel's sources (SPEC R3), whether or not it is checked.
    pub sources_available: bool,
    /// Why the sources say unavailable.
    pub sources_reason: Option<ReasonCode>,
    /// Since when `sources_available` has had its value (its last change, or when the agent
    /// joined the queue); `None` when not known (unchanged since a restore from a snapshot
    /// written before it was kept).
    pub since: Option<crate::time::Timestamp>,
    /// Every source's verdict, in the channel's source order.
    pub verdicts: Vec<SourceVerdict>,
}

impl Engine {
    /// An agent's profile, if the agent exists.
    pub fn agent_profile(&self, id: &str) -> Option<&AgentProfile> {
        self.agent_key(id)
            .and_then(|key| self.agent(key).profile.as_ref())
    }

    /// Every existing agent, in creation order.
    pub fn agents(&self) -> impl Iterator<Item = (&AgentId, &AgentProfile)> {
        self.agents
            .iter()
            .filter_map(|slot| slot.profile.as_ref().map(|p| (&slot.id, p)))
    }

    /// Whether some source currently blocks the agent with `code` (the API's dismissal flag
    /// asks this).
    pub fn is_blocked_with(&self, id: &str, code: &ReasonCode) -> bool {
        self.agent_key(id).is_some_and(|key| {
            self.agent(key)
                .verdicts
                .iter()
                .any(|v| v.kind == crate::VerdictKind::Block && v.code.as_ref() == Some(code))
        })
    }

    /// A group's settings.
    pub fn group(&self, id: &str) -> Option<&GroupSettings> {
        self.groups.get(id)
    }

    /// A channel's settings.
    pub fn channel(&self, id: &str) -> Option<&ChannelSettings> {
        self.channel_keys
            .get(id)
            .map(|key| &self.channels[*key].settings)
    }

    /// Every channel, in creation order.
    pub fn channels(&self) -> impl Iterator<Item = (&ChannelId, &ChannelSettings)> {
        self.channels.iter().map(|slot| (&slot.id, &slot.settings))
    }

    /// A conversation, open or closed.
    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations
            .key(id)
            .map(|key| &self.conversations[key].public)
    }

    /// Number of conversations in memory: every open one, and the closed ones not yet
    /// archived (SPEC R21b).
    pub fn conversation_count(&self) -> usize {
        self.conversations.len()
    }

    /// How many conversations are in `state` (kept as they move: no scan).
    pub fn conversations_in(&self, state: crate::ConversationState) -> usize {
        self.conversations.count(state)
    }

    /// Every conversation in memory (open, or closed and not yet archived), in arrival order.
    pub fn conversations(&self) -> impl Iterator<Item = &Conversation> {
        self.conversations.iter().map(|(_, slot)| &slot.public)
    }

    /// A channel's waiting conversations in queue order (SPEC R10); `None` if no such channel.
    pub fn queue(&self, channel: &str) -> Option<impl ExactSizeIterator<Item = &Conversation>> {
        let key = *self.channel_keys.get(channel)?;
        Some(
            self.channels[key]
                .waiting
                .values()
                .map(|c| &self.conversations[*c].public),
        )
    }

    /// Conversations offered to or held by an agent; `None` if no such agent.
    pub fn agent_conversations(&self, agent: &str) -> Option<Vec<&Conversation>> {
        let key = self.agent_key(agent)?;
        self.agent(key).profile.as_ref()?;
        Some(
            self.agent(key)
                .open
                .iter()
                .map(|c| &self.conversations[*c].public)
                .collect(),
        )
    }

    /// Why the agent is or is not available, for every channel whose queue holds it
    /// (SPEC R17); `None` if no such agent.
    pub fn explain(&self, agent: &str) -> Option<Vec<ChannelAvailability>> {
        let key = self.agent_key(agent)?;
        let slot = self.agent(key);
        slot.profile.as_ref()?;
        let mut channels = slot.memberships.clone();
        channels.sort_unstable();
        Some(
            channels
                .into_iter()
                .filter_map(|channel| {
                    let ch = &self.channels[channel];
                    let member = ch.members.get(key)?;
                    let verdicts = ch
                        .sources
                        .iter()
                        .filter_map(|s| {
                            Some(SourceVerdict {
                                source: self.plugins.sources[*s].0.clone(),
                                verdict: slot.verdicts.get(*s)?.clone(),
                            })
                        })
                        .collect();
                    let checks = ch.settings.check_availability;
                    let available = !checks || member.available;
                    Some(ChannelAvailability {
                        channel: ch.id.clone(),
                        check_availability: checks,
                        available,
                        reason: if available { None } else { member.code.clone() },
                        sources_available: member.available,
                        sources_reason: member.code.clone(),
                        since: member.since,
                        verdicts,
                    })
                })
                .collect(),
        )
    }

    /// The per-group setting keys the sources declare, sorted.
    pub fn group_setting_keys(&self) -> Vec<&'static str> {
        self.plugins
            .group_settings()
            .iter()
            .map(|s| s.key)
            .collect()
    }

    /// The plugins this engine was built with.
    pub fn plugins(&self) -> &super::Plugins {
        &self.plugins
    }

    /// Names of the sources and policies this engine was built with, sorted.
    pub fn plugin_names(&self) -> (Vec<&str>, Vec<&str>) {
        (self.plugins.source_names(), self.plugins.policy_names())
    }

    /// Number of pending deadlines (offer expiries and verdict changes).
    pub fn pending_deadlines(&self) -> usize {
        self.deadlines.len()
    }
}
