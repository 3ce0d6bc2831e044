//! Event-driven routing (SPEC R10–R13): whenever a channel may have both a waiting
//! conversation and an eligible agent, its policy offers the oldest waiting conversation.

use super::Engine;
use super::deadlines::Deadline;
use crate::Event;
use crate::model::{ConversationState, HistoryEvent};
use crate::policy::AgentKey;
use crate::time::after;

/// Channels that may be able to route, each listed once (no allocation once warmed up).
#[derive(Debug, Default)]
pub(super) struct DirtyChannels {
    pending: Vec<usize>,
    marked: Vec<bool>,
}

impl DirtyChannels {
    /// Marks `channel` for routing.
    pub(super) fn insert(&mut self, channel: usize) {
        if self.marked.len() <= channel {
            self.marked.resize(channel + 1, false);
        }
        if !self.marked[channel] {
            self.marked[channel] = true;
            self.pending.push(channel);
        }
    }

    /// The next channel to route, if any.
    fn pop(&mut self) -> Option<usize> {
        let channel = self.pending.pop()?;
        self.marked[channel] = false;
        Some(channel)
    }
}

impl Engine {
    /// Routes every channel marked as possibly routable, until none is.
    pub(super) fn route_dirty(&mut self) {
        while let Some(channel) = self.dirty.pop() {
            self.route(channel);
        }
    }

    /// Offers waiting conversations of `channel`, oldest first, while agents are eligible.
    fn route(&mut self, channel: usize) {
        let mut chosen = std::mem::take(&mut self.chosen);
        loop {
            chosen.clear();
            let ch = &mut self.channels[channel];
            let Some((_, &conversation)) = ch.waiting.first_key_value() else {
                break;
            };
            if ch.members.eligible_count() == 0 {
                break;
            }
            let skipped = &self.conversations[conversation].skipped;
            ch.members
                .choose(&|agent| skipped.contains(&agent), &mut chosen);
            if chosen.is_empty() {
                // SPEC R12: every eligible agent was skipped: a new round starts.
                self.conversations[conversation].skipped.clear();
                ch.members.choose(&|_| false, &mut chosen);
                if chosen.is_empty() {
                    break;
                }
            }
            self.offer(conversation, &chosen);
        }
        self.chosen = chosen;
    }

    /// Offers `conversation` to `agents`, starting its offer timeout.
    pub(super) fn offer(&mut self, conversation: usize, agents: &[AgentKey]) {
        let now = self.now;
        self.conversations
            .set_state(conversation, ConversationState::Offered);
        let slot = &mut self.conversations[conversation];
        let ch = &mut self.channels[slot.channel];
        ch.waiting.remove(&slot.arrival);
        for &agent in agents {
            let agent_slot = &mut self.agents[agent.0 as usize];
            agent_slot.open.insert(conversation);
            agent_slot.last_offer_at = Some(now);
            slot.offered.push(agent);
            slot.public.offered_to.push(agent_slot.id.clone());
            slot.public.remember(crate::HistoryEntry {
                at: now,
                event: HistoryEvent::Offered,
                agent: Some(agent_slot.id.clone()),
                reason: None,
                by: self.actor.clone(),
            });
            self.events.push(Event::Offered {
                at: now,
                conversation: slot.public.id.clone(),
                channel: ch.id.clone(),
                agent: agent_slot.id.clone(),
            });
        }
        let deadline = Some(after(now, ch.settings.offer_timeout));
        self.deadlines.reschedule(
            Deadline::OfferExpiry(conversation),
            slot.offer_deadline,
            deadline,
        );
        slot.offer_deadline = deadline;
        for &agent in agents {
            self.refresh_agent(agent);
        }
    }
}
