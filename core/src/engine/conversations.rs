//! Conversation commands and transitions: arrival, messages (SPEC R15), accept, decline and
//! expiry (R12), transfer, close, and the shared moves back to the queue (R14).

use super::deadlines::Deadline;
use super::{Engine, EngineError, Result};
use crate::Event;
use crate::keymap::KeySet;
use crate::model::{
    AgentId, Author, ChannelId, Conversation, ConversationId, ConversationState, HistoryEntry,
    HistoryEvent, ReasonCode,
};
use crate::policy::AgentKey;

impl Engine {
    fn conversation_key(&self, id: &str) -> Result<usize> {
        self.conversations
            .key(id)
            .ok_or_else(|| EngineError::not_found("conversation", id))
    }

    fn open_conversation_key(&self, id: &str) -> Result<usize> {
        let key = self.conversation_key(id)?;
        if self.conversations[key].public.state == ConversationState::Closed {
            return Err(EngineError::Conflict(format!(
                "conversation `{id}` is closed"
            )));
        }
        Ok(key)
    }

    fn record(
        &mut self,
        conversation: usize,
        event: HistoryEvent,
        agent: Option<AgentKey>,
        reason: Option<ReasonCode>,
    ) {
        let agent = agent.map(|a| self.agent(a).id.clone());
        let by = self.actor.clone();
        self.conversations[conversation]
            .public
            .remember(HistoryEntry {
                at: self.now,
                event,
                agent,
                reason,
                by,
            });
    }

    fn ids(&self, conversation: usize) -> (ConversationId, ChannelId) {
        let slot = &self.conversations[conversation];
        (
            slot.public.id.clone(),
            self.channels[slot.channel].id.clone(),
        )
    }

    pub(super) fn open_conversation(
        &mut self,
        channel: ChannelId,
        id: ConversationId,
        customer: String,
        with_message: bool,
    ) -> Result<bool> {
        let channel_key = *self
            .channel_keys
            .get(&channel)
            .ok_or_else(|| EngineError::not_found("channel", &channel))?;
        if let Some(existing) = self.conversations.key(&id) {
            let existing = &self.conversations[existing];
            if existing.channel != channel_key || existing.public.customer != customer {
                return Err(EngineError::Conflict(format!(
                    "conversation `{id}` already exists for another channel or customer"
                )));
            }
            return Ok(false);
        }
        if id.trim().is_empty() {
            return Err(EngineError::field("id", "must not be empty"));
        }
        if customer.trim().is_empty() {
            return Err(EngineError::field("customer", "must not be empty"));
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let key = self.conversations.insert(super::state::ConversationSlot {
            public: Conversation {
                id: id.clone(),
                channel: channel.clone(),
                customer,
                state: ConversationState::Queued,
                agent: None,
                offered_to: Vec::new(),
                last_message_from: with_message.then_some(Author::Customer),
                queued_at: self.now,
                history: std::collections::VecDeque::with_capacity(4),
                history_omitted: 0,
                closed_at: None,
            },
            channel: channel_key,
            arrival,
            offered: Vec::new(),
            holder: None,
            skipped: KeySet::default(),
            offer_deadline: None,
        });
        self.record(key, HistoryEvent::Queued, None, None);
        self.events.push(Event::Queued {
            at: self.now,
            conversation: id,
            channel: channel.clone(),
        });
        self.channels[channel_key].waiting.insert(arrival, key);
        self.dirty.insert(channel_key);
        Ok(true)
    }

    pub(super) fn message(&mut self, id: &str, from: Author, agent: Option<AgentId>) -> Result<()> {
        let key = self.open_conversation_key(id)?;
        match (from, agent) {
            (Author::Customer, Some(_)) => Err(EngineError::field(
                "agent",
                "is only allowed when `from` is \"agent\"",
            )),
            (Author::Customer, None) => {
                self.conversations[key].public.last_message_from = Some(Author::Customer);
                let slot = &self.conversations[key];
                // SPEC R15: a conversation kept under R14b returns at the customer's next message.
                if let Some(holder) = slot.holder
                    && let Err(reason) = self.can_hold(slot.channel, holder)
                {
                    self.requeue(key, reason);
                }
                Ok(())
            }
            (Author::Agent, None) => Err(EngineError::field(
                "agent",
                "is required when `from` is \"agent\"",
            )),
            (Author::Agent, Some(agent_id)) => {
                let agent = self.existing_agent(&agent_id)?;
                if self.conversations[key].holder != Some(agent) {
                    return Err(EngineError::Conflict(format!(
                        "agent `{agent_id}` does not hold conversation `{id}`"
                    )));
                }
                self.conversations[key].public.last_message_from = Some(Author::Agent);
                self.agents[agent.0 as usize].last_reply_at = Some(self.now);
                self.refresh_agent(agent);
                Ok(())
            }
        }
    }

    fn offered_agent(&self, conversation: &str, agent_id: &str) -> Result<(usize, AgentKey)> {
        let key = self.open_conversation_key(conversation)?;
        let agent = self.existing_agent(agent_id)?;
        if !self.conversations[key].offered.contains(&agent) {
            return Err(EngineError::Conflict(format!(
                "conversation `{conversation}` is not offered to agent `{agent_id}`"
            )));
        }
        Ok((key, agent))
    }

    pub(super) fn accept(&mut self, conversation: &str, agent_id: &str) -> Result<()> {
        let (key, agent) = self.offered_agent(conversation, agent_id)?;
        let others: Vec<AgentKey> = self.conversations[key]
            .offered
            .iter()
            .copied()
            .filter(|a| *a != agent)
            .collect();
        for other in others {
            self.withdraw_offer(key, other, HistoryEvent::OfferWithdrawn, None);
        }
        let slot = &mut self.conversations[key];
        slot.offered.clear();
        slot.public.offered_to.clear();
        slot.holder = Some(agent);
        slot.public.agent = Some(self.agents[agent.0 as usize].id.clone());
        slot.skipped.clear();
        self.conversations
            .set_state(key, ConversationState::Accepted);
        self.cancel_offer_deadline(key);
        self.record(key, HistoryEvent::Accepted, Some(agent), None);
        let (conversation, channel) = self.ids(key);
        self.events.push(Event::Accepted {
            at: self.now,
            conversation,
            channel,
            agent: self.agent(agent).id.clone(),
        });
        Ok(())
    }

    pub(super) fn decline(&mut self, conversation: &str, agent_id: &str) -> Result<()> {
        let (key, agent) = self.offered_agent(conversation, agent_id)?;
        self.conversations[key].skipped.insert(agent);
        self.withdraw_offer(
            key,
            agent,
            HistoryEvent::Declined,
            Some(ReasonCode::DECLINED),
        );
        Ok(())
    }

    /// SPEC R12: an offer not accepted in time moves on; its agents are skipped.
    pub(super) fn expire_offer(&mut self, key: usize) {
        self.conversations[key].offer_deadline = None;
        let offered = self.conversations[key].offered.clone();
        self.conversations[key]
            .skipped
            .extend(offered.iter().copied());
        for agent in offered {
            self.withdraw_offer(
                key,
                agent,
                HistoryEvent::OfferExpired,
                Some(ReasonCode::OFFER_EXPIRED),
            );
        }
    }

    pub(super) fn transfer(&mut self, conversation: &str, to: Option<AgentId>) -> Result<()> {
        let key = self.open_conversation_key(conversation)?;
        let target = match &to {
            Some(agent_id) => Some(self.transfer_target(key, agent_id)?),
            None => None,
        };
        let offered = self.conversations[key].offered.clone();
        for agent in offered {
            self.withdraw_offer(
                key,
                agent,
                HistoryEvent::OfferWithdrawn,
                Some(ReasonCode::TRANSFERRED),
            );
        }
        self.take_from_holder(key, HistoryEvent::Transferred, ReasonCode::TRANSFERRED);
        if let Some(target) = target {
            self.conversations[key].skipped.clear();
            self.offer(key, &[target]);
        }
        Ok(())
    }

    fn transfer_target(&self, key: usize, agent_id: &str) -> Result<AgentKey> {
        let agent = self.existing_agent(agent_id)?;
        let slot = &self.conversations[key];
        if slot.holder == Some(agent) || slot.offered == [agent] {
            return Err(EngineError::Conflict(format!(
                "conversation `{}` is already with `{agent_id}`",
                slot.public.id
            )));
        }
        if let Err(reason) = self.can_hold(slot.channel, agent) {
            return Err(EngineError::Conflict(format!(
                "agent `{agent_id}` cannot take conversations of channel `{}` now ({reason})",
                self.channels[slot.channel].id
            )));
        }
        let ch = &self.channels[slot.channel];
        let open = self.agent(agent).open.len();
        if ch
            .settings
            .max_chats
            .is_some_and(|max| open >= max as usize)
        {
            return Err(EngineError::Conflict(format!(
                "agent `{agent_id}` is at the channel's max_chats"
            )));
        }
        Ok(agent)
    }

    pub(super) fn close(&mut self, conversation: &str) -> Result<()> {
        let key = self.open_conversation_key(conversation)?;
        self.conversations.set_state(key, ConversationState::Closed);
        let slot = &mut self.conversations[key];
        slot.public.closed_at = Some(self.now);
        self.channels[slot.channel].waiting.remove(&slot.arrival);
        let holder = slot.holder.take();
        let holder_id = slot.public.agent.clone();
        self.cancel_offer_deadline(key);
        // Offerees are told their offer is gone; the state is already closed, so nothing requeues.
        for agent in self.conversations[key].offered.clone() {
            self.withdraw_offer(key, agent, HistoryEvent::OfferWithdrawn, None);
        }
        if let Some(holder) = holder {
            self.release(key, holder);
        }
        let by = self.actor.clone();
        self.conversations[key].public.remember(HistoryEntry {
            at: self.now,
            event: HistoryEvent::Closed,
            agent: holder_id.clone(),
            reason: None,
            by,
        });
        let (conversation, channel) = self.ids(key);
        self.events.push(Event::Closed {
            at: self.now,
            conversation,
            channel,
            agent: holder_id,
        });
        Ok(())
    }

    /// Takes the offer to `agent` back; the conversation returns to its place in the queue
    /// when nobody else has it on offer.
    pub(super) fn withdraw_offer(
        &mut self,
        key: usize,
        agent: AgentKey,
        event: HistoryEvent,
        reason: Option<ReasonCode>,
    ) {
        let slot = &mut self.conversations[key];
        let Some(index) = slot.offered.iter().position(|a| *a == agent) else {
            return;
        };
        slot.offered.remove(index);
        slot.public.offered_to.remove(index);
        let now_empty = slot.offered.is_empty();
        self.record(key, event, Some(agent), reason.clone());
        let (conversation, channel) = self.ids(key);
        self.events.push(Event::OfferWithdrawn {
            at: self.now,
            conversation,
            channel,
            agent: self.agent(agent).id.clone(),
            reason,
        });
        self.release(key, agent);
        if now_empty && self.conversations[key].public.state == ConversationState::Offered {
            self.back_to_queue(key);
        }
    }

    /// Takes an accepted conversation from its holder and puts it back in the queue (R14c, R15).
    pub(super) fn requeue(&mut self, key: usize, reason: ReasonCode) {
        self.take_from_holder(key, HistoryEvent::Requeued, reason);
    }

    /// Takes the conversation from its holder, if any, recording `event`, and queues it.
    fn take_from_holder(&mut self, key: usize, event: HistoryEvent, reason: ReasonCode) {
        let Some(holder) = self.conversations[key].holder.take() else {
            return;
        };
        self.record(key, event, Some(holder), Some(reason.clone()));
        let (conversation, channel) = self.ids(key);
        self.events.push(Event::Requeued {
            at: self.now,
            conversation,
            channel,
            agent: self.agent(holder).id.clone(),
            reason,
        });
        self.conversations[key].skipped.clear();
        self.release(key, holder);
        self.back_to_queue(key);
    }

    /// Back to the queue at the conversation's original place (SPEC R10).
    fn back_to_queue(&mut self, key: usize) {
        self.cancel_offer_deadline(key);
        self.conversations.set_state(key, ConversationState::Queued);
        let slot = &mut self.conversations[key];
        slot.public.agent = None;
        self.channels[slot.channel]
            .waiting
            .insert(slot.arrival, key);
        self.dirty.insert(slot.channel);
    }

    /// The agent no longer has this conversation: frees its capacity.
    fn release(&mut self, key: usize, agent: AgentKey) {
        self.agents[agent.0 as usize].open.remove(&key);
        self.refresh_agent(agent);
        for &channel in &self.agents[agent.0 as usize].memberships {
            self.dirty.insert(channel);
        }
    }

    fn cancel_offer_deadline(&mut self, key: usize) {
        let old = self.conversations[key].offer_deadline.take();
        self.deadlines
            .reschedule(Deadline::OfferExpiry(key), old, None);
    }
}
