//! Closed conversations leaving memory (SPEC R21b): the caller archives the ones closed long
//! enough ago, then tells the engine to forget them. Nothing else refers to a closed
//! conversation, so forgetting one changes no routing.

use super::Engine;
use crate::model::{Conversation, ConversationId, ConversationState};
use crate::time::Timestamp;

impl Engine {
    /// Up to `max` closed conversations in memory that closed before `cutoff`, oldest first:
    /// the ones to archive. Costs what it returns, not what is in memory.
    pub fn closed_before(&self, cutoff: Timestamp, max: usize) -> Vec<Conversation> {
        self.conversations
            .closed_keys()
            .map(|key| &self.conversations[key].public)
            .take_while(|c| c.closed_at.is_some_and(|at| at < cutoff))
            .take(max)
            .cloned()
            .collect()
    }

    /// Forgets the closed conversations `ids` (archived by the caller); an id not in memory
    /// or not closed is left alone. How many left memory.
    pub fn forget_closed(&mut self, ids: &[ConversationId]) -> usize {
        ids.iter()
            .filter(|id| self.conversations.remove_closed(id))
            .count()
    }

    /// How many closed conversations are in memory.
    pub fn closed_in_memory(&self) -> usize {
        self.conversations.count(ConversationState::Closed)
    }
}
