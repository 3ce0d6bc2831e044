//! Every conversation the engine knows, addressed by a dense key, with its id index and the
//! count of conversations in each state, kept in step by one owner.
//!
//! Invariant: [`Conversations::count`] of a state is the number of conversations in it, so
//! reading the counts (metrics) never scans. A conversation's state changes only through
//! [`Conversations::set_state`].

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

use super::state::ConversationSlot;
use crate::model::{ConversationId, ConversationState};

/// The conversations, their ids and their per-state counts.
#[derive(Default)]
pub(crate) struct Conversations {
    slots: Vec<ConversationSlot>,
    keys: HashMap<ConversationId, usize>,
    counts: [usize; 4],
}

impl Conversations {
    /// The key of conversation `id`, if known.
    pub fn key(&self, id: &str) -> Option<usize> {
        self.keys.get(id).copied()
    }

    /// Adds a new conversation (in the state its slot says); its key.
    pub fn insert(&mut self, slot: ConversationSlot) -> usize {
        let key = self.slots.len();
        self.counts[slot.public.state as usize] += 1;
        self.keys.insert(slot.public.id.clone(), key);
        self.slots.push(slot);
        key
    }

    /// Moves conversation `key` to state `to`.
    pub fn set_state(&mut self, key: usize, to: ConversationState) {
        let state = &mut self.slots[key].public.state;
        self.counts[*state as usize] -= 1;
        self.counts[to as usize] += 1;
        *state = to;
    }

    /// How many conversations are in `state`.
    pub fn count(&self, state: ConversationState) -> usize {
        self.counts[state as usize]
    }

    /// How many conversations there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Every conversation, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &ConversationSlot> {
        self.slots.iter()
    }
}

impl Index<usize> for Conversations {
    type Output = ConversationSlot;
    fn index(&self, key: usize) -> &ConversationSlot {
        &self.slots[key]
    }
}

impl IndexMut<usize> for Conversations {
    fn index_mut(&mut self, key: usize) -> &mut ConversationSlot {
        &mut self.slots[key]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::keymap::KeySet;
    use crate::model::Conversation;
    use crate::test_util::t;

    fn queued(id: &str) -> ConversationSlot {
        ConversationSlot {
            public: Conversation {
                id: ConversationId::new(id).unwrap(),
                channel: crate::ChannelId::new("web").unwrap(),
                customer: "c".into(),
                state: ConversationState::Queued,
                agent: None,
                offered_to: Vec::new(),
                last_message_from: None,
                queued_at: t(0),
                history: Default::default(),
                history_omitted: 0,
                closed_at: None,
            },
            channel: 0,
            arrival: 0,
            offered: Vec::new(),
            holder: None,
            skipped: KeySet::default(),
            offer_deadline: None,
        }
    }

    #[test]
    fn the_counts_per_state_follow_every_move() {
        use ConversationState::*;
        let mut all = Conversations::default();
        let a = all.insert(queued("a"));
        let b = all.insert(queued("b"));
        assert_eq!((all.count(Queued), all.len()), (2, 2));
        all.set_state(a, Offered);
        all.set_state(b, Offered);
        all.set_state(a, Accepted);
        assert_eq!(
            [Queued, Offered, Accepted, Closed].map(|s| all.count(s)),
            [0, 1, 1, 0]
        );
        all.set_state(a, Closed);
        all.set_state(b, Queued);
        assert_eq!(
            [Queued, Offered, Accepted, Closed].map(|s| all.count(s)),
            [1, 0, 0, 1]
        );
        assert_eq!(all.key("b"), Some(b));
        assert_eq!(all.key("c"), None);
        assert_eq!(all[a].public.state, Closed);
    }
}
