//! The engine's whole state as plain data, and an engine rebuilt from it (SPEC R21a).
//!
//! A [`Snapshot`] holds what cannot be derived: agents (with every source's verdict, by
//! source name), channels (with their policy's own state and since when each queue member's
//! availability has been what it is), conversations in memory, every
//! source's per-agent state, the instant and the counters. Everything derived — queue
//! members and their availability, the policies' indexes, waiting queues, each agent's open
//! conversations, deadlines — is rebuilt on restore, by the same code that maintains it, so
//! a restored engine answers and routes exactly as the one that was snapshotted (a property
//! test checks snapshot + tail against full replay).
//!
//! Keys are kept as they were (agents, conversations): ties the engine breaks by key fall
//! the same way after a restore.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use super::deadlines::Deadline;
use super::members::Members;
use super::state::{AgentSlot, ChannelSlot, ConversationSlot};
use super::{EngineError, Plugins, Result};
use crate::keymap::KeySet;
use crate::model::{
    AgentId, AgentProfile, ChannelId, ChannelSettings, Conversation, ConversationState,
    GroupDirectory,
};
use crate::policy::AgentKey;
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// The engine's state as plain data (see the module docs). Serialize it with serde; its
/// shape is versioned by [`SNAPSHOT_FORMAT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    now: Timestamp,
    next_arrival: u64,
    next_conversation: usize,
    groups: GroupDirectory,
    /// By agent key; freed placeholder slots included (listed in `free_agents`).
    agents: Vec<AgentRecord>,
    /// Freed slots, in the order they are reused (last first).
    free_agents: Vec<u32>,
    /// By channel key.
    channels: Vec<ChannelRecord>,
    /// Open ones by key, then closed ones in the order they closed.
    conversations: Vec<ConversationRecord>,
    /// Every source's snapshot, by source name.
    sources: BTreeMap<String, Value>,
}

/// The shape of [`Snapshot`]; a store refuses one in a newer format (SPEC R22).
/// 2: channels keep since when each member's availability has been what it is (format 1
/// snapshots, without it, are read as "not known").
pub const SNAPSHOT_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRecord {
    id: AgentId,
    profile: Option<AgentProfile>,
    /// Channel keys, in the order the agent joined their queues.
    memberships: Vec<usize>,
    /// Every source's current verdict, by source name.
    verdicts: BTreeMap<String, Verdict>,
    last_reply_at: Option<Timestamp>,
    last_offer_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelRecord {
    id: ChannelId,
    settings: ChannelSettings,
    /// The policy's own state ([`crate::policy::RoutingPolicy::snapshot`]).
    policy: Value,
    /// Since when each queue member's availability has been what it is, in queue order
    /// (SPEC R17, R32); empty in format 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    since: Vec<Option<Timestamp>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationRecord {
    key: usize,
    channel: usize,
    arrival: u64,
    offered: Vec<u32>,
    holder: Option<u32>,
    /// Sorted.
    skipped: Vec<u32>,
    offer_deadline: Option<Timestamp>,
    conversation: Conversation,
}

fn corrupt(message: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("snapshot: {message}"))
}

impl Engine {
    /// The whole state as plain data (SPEC R21a). Costs a copy of the live state; nothing
    /// here grows with history.
    pub fn snapshot(&self) -> Snapshot {
        let names = self.plugins.source_names();
        let agents = self
            .agents
            .iter()
            .map(|slot| AgentRecord {
                id: slot.id.clone(),
                profile: slot.profile.clone(),
                memberships: slot.memberships.clone(),
                verdicts: names
                    .iter()
                    .zip(&slot.verdicts)
                    .map(|(name, verdict)| ((*name).to_owned(), verdict.clone()))
                    .collect(),
                last_reply_at: slot.last_reply_at,
                last_offer_at: slot.last_offer_at,
            })
            .collect();
        let channels = self
            .channels
            .iter()
            .map(|slot| ChannelRecord {
                id: slot.id.clone(),
                settings: slot.settings.clone(),
                policy: slot.members.policy().snapshot(),
                since: slot
                    .settings
                    .queue
                    .iter()
                    .map(|agent| {
                        let key = self.agent_key(agent)?;
                        slot.members.get(key)?.since
                    })
                    .collect(),
            })
            .collect();
        let open = self
            .conversations
            .iter()
            .filter(|(_, slot)| slot.public.state != ConversationState::Closed);
        let closed = self
            .conversations
            .closed_keys()
            .map(|key| (key, &self.conversations[key]));
        let conversations = open
            .chain(closed)
            .map(|(key, slot)| {
                let mut skipped: Vec<u32> = slot.skipped.iter().map(|a| a.0).collect();
                skipped.sort_unstable();
                ConversationRecord {
                    key,
                    channel: slot.channel,
                    arrival: slot.arrival,
                    offered: slot.offered.iter().map(|a| a.0).collect(),
                    holder: slot.holder.map(|a| a.0),
                    skipped,
                    offer_deadline: slot.offer_deadline,
                    conversation: slot.public.clone(),
                }
            })
            .collect();
        Snapshot {
            now: self.now,
            next_arrival: self.next_arrival,
            next_conversation: self.conversations.next_key(),
            groups: self.groups.clone(),
            agents,
            free_agents: self.free_agent_keys.iter().map(|a| a.0).collect(),
            channels,
            conversations,
            sources: self
                .plugins
                .sources
                .iter()
                .map(|(name, source)| (name.clone(), source.snapshot()))
                .collect(),
        }
    }

    /// The engine `snapshot` describes, with these plugins. Refused (nothing half-built is
    /// returned) when the snapshot names a source or policy the plugins lack, or does not
    /// hold together (SPEC R22). A source the snapshot does not know (added since) is asked
    /// for its verdicts afresh.
    pub fn restore(plugins: Plugins, snapshot: Snapshot) -> Result<Self> {
        let Snapshot {
            now,
            next_arrival,
            next_conversation,
            groups,
            agents,
            free_agents,
            channels,
            conversations,
            sources,
        } = snapshot;
        let mut engine = Engine::new(plugins, now);
        engine.next_arrival = next_arrival;
        engine.groups = groups;
        engine.restore_sources(sources)?;
        let unknown_verdicts = engine.restore_agents(agents, free_agents)?;
        engine.restore_channels(channels)?;
        for record in conversations {
            engine.restore_conversation(record)?;
        }
        engine.conversations.reserve_keys(next_conversation);
        for channel in 0..engine.channels.len() {
            for (agent, _) in engine.queue_order(channel) {
                engine.settle_member(channel, agent);
            }
        }
        for (agent, source) in unknown_verdicts {
            engine.evaluate(agent, Some(source));
        }
        engine.route_dirty();
        engine.events.clear();
        Ok(engine)
    }

    fn restore_sources(&mut self, sources: BTreeMap<String, Value>) -> Result<()> {
        for (name, state) in sources {
            let index = self.plugins.source_index(&name).ok_or_else(|| {
                corrupt(format!(
                    "it holds the state of source `{name}`, which this binary does not have"
                ))
            })?;
            self.plugins.sources[index]
                .1
                .restore(state)
                .map_err(|e| corrupt(e.message))?;
        }
        Ok(())
    }

    /// The agents; returns the (agent, source) verdicts the snapshot lacks.
    fn restore_agents(
        &mut self,
        agents: Vec<AgentRecord>,
        free: Vec<u32>,
    ) -> Result<Vec<(AgentKey, usize)>> {
        let names: Vec<String> = self
            .plugins
            .source_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut unknown = Vec::new();
        let free_set: std::collections::HashSet<u32> = free.iter().copied().collect();
        for (index, mut record) in agents.into_iter().enumerate() {
            let key = AgentKey(u32::try_from(index).map_err(|_| corrupt("too many agents"))?);
            let mut verdicts = Vec::new();
            if record.profile.is_some() && !free_set.contains(&key.0) {
                for (source, name) in names.iter().enumerate() {
                    match record.verdicts.remove(name) {
                        Some(verdict) => verdicts.push(verdict),
                        None => {
                            verdicts.push(Verdict::abstain("not evaluated yet"));
                            unknown.push((key, source));
                        }
                    }
                }
            }
            if let Some(name) = record.verdicts.keys().next() {
                return Err(corrupt(format!(
                    "agent `{}` has a verdict of source `{name}`, which this binary does not have",
                    record.id
                )));
            }
            if !free_set.contains(&key.0)
                && self.agent_keys.insert(record.id.clone(), key).is_some()
            {
                return Err(corrupt(format!("agent `{}` is listed twice", record.id)));
            }
            for (source, verdict) in verdicts.iter().enumerate() {
                if let Some(until) = verdict.until {
                    self.deadlines
                        .reschedule(Deadline::Verdict(key, source), None, Some(until));
                }
            }
            self.agents.push(AgentSlot {
                verdicts,
                last_reply_at: record.last_reply_at,
                last_offer_at: record.last_offer_at,
                ..AgentSlot::new(record.id)
            });
            // Memberships are checked against the channels once those exist.
            self.agents[index].memberships = record.memberships;
            self.agents[index].profile = record.profile;
        }
        for key in free {
            if key as usize >= self.agents.len() {
                return Err(corrupt(format!("free agent slot {key} does not exist")));
            }
            self.free_agent_keys.push(AgentKey(key));
        }
        Ok(unknown)
    }

    fn restore_channels(&mut self, channels: Vec<ChannelRecord>) -> Result<()> {
        for (index, record) in channels.into_iter().enumerate() {
            let sources = self
                .validate_channel(&record.settings)
                .map_err(|e| corrupt(format!("channel `{}`: {e}", record.id)))?;
            let build = self.plugins.policies[&record.settings.policy];
            let mut policy = build(&Value::Null)
                .map_err(|e| corrupt(format!("channel `{}`: {e}", record.id)))?;
            policy
                .restore(record.policy)
                .map_err(|e| corrupt(format!("channel `{}`'s policy: {e}", record.id)))?;
            let mut members = Members::new(policy);
            for (position, agent) in record.settings.queue.iter().enumerate() {
                let key = self.agent_key(agent).ok_or_else(|| {
                    corrupt(format!(
                        "channel `{}` queues unknown agent `{agent}`",
                        record.id
                    ))
                })?;
                if !self.agents[key.0 as usize].memberships.contains(&index) {
                    return Err(corrupt(format!(
                        "agent `{agent}` is in channel `{}`'s queue but not a member",
                        record.id
                    )));
                }
                let since = record.since.get(position).copied().flatten();
                members.place(key, u32::try_from(position).unwrap_or(u32::MAX), since);
            }
            if self.channel_keys.insert(record.id.clone(), index).is_some() {
                return Err(corrupt(format!("channel `{}` is listed twice", record.id)));
            }
            self.channels.push(ChannelSlot {
                id: record.id,
                settings: record.settings,
                sources,
                members,
                waiting: Default::default(),
            });
        }
        let count = self.channels.len();
        for slot in &self.agents {
            if let Some(bad) = slot.memberships.iter().find(|c| **c >= count) {
                return Err(corrupt(format!(
                    "agent `{}` is a member of channel {bad}, which does not exist",
                    slot.id
                )));
            }
        }
        Ok(())
    }

    fn restore_conversation(&mut self, record: ConversationRecord) -> Result<()> {
        let id = record.conversation.id.clone();
        if record.channel >= self.channels.len() {
            return Err(corrupt(format!(
                "conversation `{id}` is on channel {}, which does not exist",
                record.channel
            )));
        }
        if self.conversations.key(&id).is_some() || self.conversations.contains(record.key) {
            return Err(corrupt(format!("conversation `{id}` is listed twice")));
        }
        let agent = |key: u32| -> Result<AgentKey> {
            let live = (key as usize) < self.agents.len()
                && !self.free_agent_keys.contains(&AgentKey(key));
            match live {
                true => Ok(AgentKey(key)),
                false => Err(corrupt(format!(
                    "conversation `{id}` names agent slot {key}, which is free or absent"
                ))),
            }
        };
        let offered = record
            .offered
            .iter()
            .map(|a| agent(*a))
            .collect::<Result<Vec<_>>>()?;
        let holder = record.holder.map(agent).transpose()?;
        let skipped: KeySet<AgentKey> = record.skipped.iter().map(|a| AgentKey(*a)).collect();
        let state = record.conversation.state;
        let key = record.key;
        for agent in offered.iter().chain(&holder) {
            self.agents[agent.0 as usize].open.insert(key);
        }
        if state == ConversationState::Queued {
            self.channels[record.channel]
                .waiting
                .insert(record.arrival, key);
        }
        if let Some(at) = record.offer_deadline {
            self.deadlines
                .reschedule(Deadline::OfferExpiry(key), None, Some(at));
        }
        self.conversations.insert_at(
            key,
            ConversationSlot {
                public: record.conversation,
                channel: record.channel,
                arrival: record.arrival,
                offered,
                holder,
                skipped,
                offer_deadline: record.offer_deadline,
            },
        );
        Ok(())
    }

    /// `channel`'s members with their positions, in queue order.
    fn queue_order(&self, channel: usize) -> Vec<(AgentKey, u32)> {
        let mut members: Vec<(AgentKey, u32)> = self.channels[channel]
            .members
            .iter()
            .map(|(agent, member)| (agent, member.position))
            .collect();
        members.sort_unstable_by_key(|(_, position)| *position);
        members
    }

    /// Sets a restored member's availability from its verdicts and puts it in the policy's
    /// index if eligible, without events: this is the state it was in.
    fn settle_member(&mut self, channel: usize, agent: AgentKey) {
        let combined = self.combined_availability(channel, agent);
        if let Some(member) = self.channels[channel].members.get_mut(agent) {
            member.available = combined.available;
            member.code = combined.code;
        }
        self.refresh_eligibility(channel, agent);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_util::{FixtureSource, t};

    fn plugins() -> Plugins {
        let mut plugins = Plugins::new().with_builtin_policies().unwrap();
        plugins.add_source("app", Box::new(FixtureSource::default()));
        plugins
    }

    #[test]
    fn r22_a_snapshot_naming_a_source_this_binary_lacks_is_refused() {
        let engine = Engine::new(plugins(), t(0));
        let mut snapshot = engine.snapshot();
        snapshot
            .sources
            .insert("calendar".into(), serde_json::json!({}));
        let error = Engine::restore(plugins(), snapshot).err().unwrap();
        assert!(error.to_string().contains("`calendar`"), "{error}");
    }

    /// An agent `x` in channel `web`'s queue (source `app`, check on) at t(0), online at t(30).
    fn x_online_at_30() -> Engine {
        use crate::engine::Command;
        use crate::model::{AgentProfile, ChannelSettings};
        let mut engine = Engine::new(plugins(), t(0));
        let profile = AgentProfile {
            name: "X".into(),
            groups: vec![],
            timezone: None,
        };
        engine
            .apply(
                Command::PutAgent {
                    id: "x".try_into().unwrap(),
                    profile,
                },
                t(0),
            )
            .unwrap();
        let settings = ChannelSettings {
            name: "Web".into(),
            check_availability: true,
            sources: vec!["app".into()],
            policy: "strict_order".into(),
            queue: vec!["x".try_into().unwrap()],
            max_chats: None,
            offer_timeout: std::time::Duration::from_secs(120),
        };
        engine
            .apply(
                Command::PutChannel {
                    id: "web".try_into().unwrap(),
                    settings,
                },
                t(0),
            )
            .unwrap();
        let online = crate::test_util::signal("x", "app", "online", t(30), Value::Null);
        engine
            .apply(
                Command::Signals {
                    signals: vec![online],
                },
                t(30),
            )
            .unwrap();
        engine
    }

    #[test]
    fn r19_since_when_an_agent_is_available_survives_a_snapshot() {
        let engine = x_online_at_30();
        assert_eq!(engine.explain("x").unwrap()[0].since, Some(t(30)));
        let json = serde_json::to_string(&engine.snapshot()).unwrap();
        let restored = Engine::restore(plugins(), serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(restored.explain("x").unwrap()[0].since, Some(t(30)));

        // A format 1 snapshot has none: not known, rather than made up.
        let mut old = engine.snapshot();
        old.channels[0].since.clear();
        let restored = Engine::restore(plugins(), old).unwrap();
        let here = &restored.explain("x").unwrap()[0];
        assert!(here.available);
        assert_eq!(here.since, None);
    }

    #[test]
    fn r22_a_snapshot_that_does_not_hold_together_is_refused_not_half_loaded() {
        let engine = Engine::new(plugins(), t(0));
        let mut snapshot = engine.snapshot();
        snapshot.free_agents.push(3);
        let error = Engine::restore(plugins(), snapshot).err().unwrap();
        assert!(error.to_string().contains("slot 3"), "{error}");
    }
}
