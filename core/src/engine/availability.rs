//! Availability inside the engine: source verdicts per agent, their combination per channel
//! (SPEC R3, R9), eligibility (R10) and what happens when an agent can no longer hold a
//! channel's conversations (R14, R16).

use super::Engine;
use super::deadlines::Deadline;
use super::state::AgentSlot;
use crate::Event;
use crate::model::{AgentId, Author, ConversationState, HistoryEvent, ReasonCode};
use crate::policy::AgentKey;
use crate::source::AgentContext;
use crate::verdict::combine;

impl Engine {
    /// The key of `id`, if any queue or the directory knows it.
    pub(super) fn agent_key(&self, id: &str) -> Option<AgentKey> {
        self.agent_keys.get(id).copied()
    }

    /// The key of `id`, creating a placeholder for an agent a queue names before it exists.
    pub(super) fn agent_key_or_insert(&mut self, id: &AgentId) -> AgentKey {
        if let Some(key) = self.agent_key(id) {
            return key;
        }
        let key = match self.free_agent_keys.pop() {
            Some(key) => {
                self.agents[key.0 as usize] = AgentSlot::new(id.clone());
                key
            }
            None => {
                self.agents.push(AgentSlot::new(id.clone()));
                AgentKey(u32::try_from(self.agents.len() - 1).unwrap_or(u32::MAX))
            }
        };
        self.agent_keys.insert(id.clone(), key);
        key
    }

    /// Forgets `agent` if it is only a name that no queue mentions any more (SPEC R21e): a
    /// placeholder costs memory only while some channel's queue names it.
    pub(super) fn forget_if_unused_placeholder(&mut self, agent: AgentKey) {
        let slot = &mut self.agents[agent.0 as usize];
        if slot.profile.is_some() || !slot.memberships.is_empty() || !slot.open.is_empty() {
            return;
        }
        self.agent_keys.remove(&slot.id);
        // The slot waits for reuse holding nothing of the name it had: memory and snapshots
        // follow the names queues hold now, not the most they ever held (SPEC R21e).
        *slot = AgentSlot::new(freed_slot_id());
        self.free_agent_keys.push(agent);
    }

    pub(super) fn agent(&self, key: AgentKey) -> &AgentSlot {
        &self.agents[key.0 as usize]
    }

    /// The key of an existing (created) agent, or 404.
    pub(super) fn existing_agent(&self, id: &str) -> super::Result<AgentKey> {
        self.agent_key(id)
            .filter(|key| self.agent(*key).profile.is_some())
            .ok_or_else(|| super::EngineError::not_found("agent", id))
    }

    /// Re-evaluates `agent`'s verdicts at `now` (only source `only`, or all of them), keeps
    /// their change instants as deadlines, and propagates any change to its channels.
    pub(super) fn evaluate(&mut self, agent: AgentKey, only: Option<usize>) {
        let now = self.now;
        let slot = &mut self.agents[agent.0 as usize];
        let Some(profile) = &slot.profile else { return };
        // Built from the fields (not `AgentSlot::context`): the verdicts are updated below.
        let context = AgentContext {
            id: &slot.id,
            groups: &profile.groups,
            group_settings: &self.groups,
        };
        let mut changed = false;
        for (index, (_, source)) in self.plugins.sources.iter().enumerate() {
            if only.is_some_and(|o| o != index) {
                continue;
            }
            let mut verdict = source.verdict(&context, now);
            if verdict.until.is_some_and(|until| until <= now) {
                verdict.until = None; // a source bug must not make the engine spin
            }
            let old_until = slot.verdicts.get(index).and_then(|v| v.until);
            self.deadlines
                .reschedule(Deadline::Verdict(agent, index), old_until, verdict.until);
            match slot.verdicts.get_mut(index) {
                Some(old) => {
                    changed |= old.kind != verdict.kind || old.code != verdict.code;
                    *old = verdict;
                }
                None => {
                    slot.verdicts.push(verdict);
                    changed = true;
                }
            }
        }
        if changed {
            for channel in slot.memberships.clone() {
                self.refresh_availability(channel, agent);
            }
        }
    }

    /// Recombines `agent`'s verdicts for `channel`; on a change reports it, updates
    /// eligibility and, when the agent can no longer hold conversations there, applies R14.
    pub(super) fn refresh_availability(&mut self, channel: usize, agent: AgentKey) {
        let combined = self.combined_availability(channel, agent);
        let slot = &self.agents[agent.0 as usize];
        let ch = &mut self.channels[channel];
        let Some(member) = ch.members.get_mut(agent) else {
            return;
        };
        let flipped = member.available != combined.available;
        member.available = combined.available;
        member.code = combined.code.clone();
        if flipped {
            member.since = Some(self.now);
            self.events.push(Event::AvailabilityChanged {
                at: self.now,
                agent: slot.id.clone(),
                channel: ch.id.clone(),
                available: combined.available,
                reason: combined.code,
            });
        }
        self.refresh_eligibility(channel, agent);
        // R16: `can_hold` never fails for availability on channels that do not check.
        if let Err(reason) = self.can_hold(channel, agent) {
            self.take_away(channel, agent, reason);
        }
    }

    /// `agent`'s verdicts combined for `channel`'s sources (SPEC R3); a placeholder is offline.
    pub(super) fn combined_availability(
        &self,
        channel: usize,
        agent: AgentKey,
    ) -> crate::Availability {
        let slot = &self.agents[agent.0 as usize];
        if slot.profile.is_none() {
            return crate::Availability {
                available: false,
                code: Some(ReasonCode::OFFLINE),
            };
        }
        let sources = &self.channels[channel].sources;
        combine(sources.iter().filter_map(|s| slot.verdicts.get(*s)))
    }

    /// Puts `agent` in or out of `channel`'s policy index and refreshes its stats there.
    pub(super) fn refresh_eligibility(&mut self, channel: usize, agent: AgentKey) {
        let slot = &self.agents[agent.0 as usize];
        let ch = &mut self.channels[channel];
        let has_capacity = ch
            .settings
            .max_chats
            .is_none_or(|max| slot.open.len() < max as usize);
        let checks = ch.settings.check_availability;
        let newly = ch.members.refresh(agent, |member| {
            let eligible = slot.profile.is_some() && (!checks || member.available) && has_capacity;
            eligible.then(|| slot.stats(member.position))
        });
        if newly {
            self.dirty.insert(channel);
        }
    }

    /// Refreshes `agent` in every channel it is in (its stats or capacity changed).
    pub(super) fn refresh_agent(&mut self, agent: AgentKey) {
        for index in 0..self.agents[agent.0 as usize].memberships.len() {
            let channel = self.agents[agent.0 as usize].memberships[index];
            self.refresh_eligibility(channel, agent);
        }
    }

    /// Whether `agent` may hold `channel`'s conversations now; if not, the R14 reason code.
    pub(super) fn can_hold(&self, channel: usize, agent: AgentKey) -> Result<(), ReasonCode> {
        let ch = &self.channels[channel];
        let Some(member) = ch.members.get(agent) else {
            return Err(ReasonCode::REMOVED_FROM_QUEUE);
        };
        if self.agent(agent).profile.is_none() {
            return Err(ReasonCode::REMOVED_FROM_QUEUE);
        }
        if ch.settings.check_availability && !member.available {
            return Err(member.code.clone().unwrap_or(ReasonCode::OFFLINE));
        }
        Ok(())
    }

    /// SPEC R14 for one agent on one channel: offers are withdrawn, accepted conversations
    /// whose last message came from the customer are requeued, the rest stay.
    pub(super) fn take_away(&mut self, channel: usize, agent: AgentKey, reason: ReasonCode) {
        let open: Vec<usize> = self.agents[agent.0 as usize].open.iter().copied().collect();
        for conversation in open {
            let slot = &self.conversations[conversation];
            if slot.channel != channel {
                continue;
            }
            match slot.public.state {
                ConversationState::Offered => {
                    self.withdraw_offer(
                        conversation,
                        agent,
                        HistoryEvent::OfferWithdrawn,
                        Some(reason.clone()),
                    );
                }
                ConversationState::Accepted
                    if slot.public.last_message_from != Some(Author::Agent) =>
                {
                    self.requeue(conversation, reason.clone());
                }
                _ => {}
            }
        }
    }
}

/// The id a free agent slot holds: one shared value, never looked up (free slots are in no
/// index and a snapshot's free list names them).
fn freed_slot_id() -> AgentId {
    static FREED: std::sync::LazyLock<Option<AgentId>> =
        std::sync::LazyLock::new(|| AgentId::new("-").ok());
    match &*FREED {
        Some(id) => id.clone(),
        None => unreachable!("`-` is a valid id"),
    }
}
