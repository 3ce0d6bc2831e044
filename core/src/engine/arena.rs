//! Every conversation the engine holds in memory, addressed by a key, with its id index, the
//! count of conversations in each state and the closed ones in closing order, kept in step by
//! one owner.
//!
//! Keys are handed out in arrival order and never reused, so ordering by key is ordering by
//! arrival (an agent's conversations, deadlines at the same instant). A closed conversation
//! leaves through [`Conversations::remove_closed`] once it is archived (SPEC R21b).
//!
//! Invariant: [`Conversations::count`] of a state is the number of conversations in it, so
//! reading the counts (metrics) never scans. A conversation's state changes only through
//! [`Conversations::set_state`].

use std::collections::{HashMap, VecDeque};
use std::ops::{Index, IndexMut};

use super::state::ConversationSlot;
use crate::keymap::KeyMap;
use crate::model::{ConversationId, ConversationState};

/// The conversations, their ids and their per-state counts.
#[derive(Default)]
pub(crate) struct Conversations {
    slots: KeyMap<usize, ConversationSlot>,
    keys: HashMap<ConversationId, usize>,
    counts: [usize; 4],
    /// The key the next conversation gets.
    next_key: usize,
    /// Keys of the closed conversations, in the order they closed.
    closed: VecDeque<usize>,
}

impl Conversations {
    /// The key of conversation `id`, if known.
    pub fn key(&self, id: &str) -> Option<usize> {
        self.keys.get(id).copied()
    }

    /// Adds a new conversation (in the state its slot says); its key.
    pub fn insert(&mut self, slot: ConversationSlot) -> usize {
        let key = self.next_key;
        self.insert_at(key, slot);
        key
    }

    /// Adds a conversation under `key` (a restored one keeps its key); later ones get higher
    /// keys. A closed one is taken as the latest to close.
    pub fn insert_at(&mut self, key: usize, slot: ConversationSlot) {
        self.next_key = self.next_key.max(key + 1);
        self.counts[slot.public.state as usize] += 1;
        if slot.public.state == ConversationState::Closed {
            self.closed.push_back(key);
        }
        self.keys.insert(slot.public.id.clone(), key);
        self.slots.insert(key, slot);
    }

    /// Moves conversation `key` to state `to`.
    pub fn set_state(&mut self, key: usize, to: ConversationState) {
        let state = &mut self[key].public.state;
        let from = *state;
        *state = to;
        self.counts[from as usize] -= 1;
        self.counts[to as usize] += 1;
        if to == ConversationState::Closed && from != to {
            self.closed.push_back(key);
        }
    }

    /// The keys of the closed conversations, in the order they closed.
    pub fn closed_keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.closed.iter().copied()
    }

    /// Whether `key` is in memory.
    pub fn contains(&self, key: usize) -> bool {
        self.slots.contains_key(&key)
    }

    /// Makes the next key at least `next` (a restored arena continues where it stood).
    pub fn reserve_keys(&mut self, next: usize) {
        self.next_key = self.next_key.max(next);
    }

    /// Removes the closed conversation `id`; false if it is not in memory or not closed.
    pub fn remove_closed(&mut self, id: &str) -> bool {
        let Some(key) = self.key(id) else {
            return false;
        };
        if self[key].public.state != ConversationState::Closed {
            return false;
        }
        // Archived conversations leave oldest first: this is (nearly always) the front.
        match self.closed.iter().position(|k| *k == key) {
            Some(0) => {
                self.closed.pop_front();
            }
            Some(at) => {
                self.closed.remove(at);
            }
            None => {}
        }
        self.keys.remove(id);
        self.slots.remove(&key);
        self.counts[ConversationState::Closed as usize] -= 1;
        true
    }

    /// How many conversations are in `state`.
    pub fn count(&self, state: ConversationState) -> usize {
        self.counts[state as usize]
    }

    /// How many conversations are in memory.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The key the next conversation gets.
    pub fn next_key(&self) -> usize {
        self.next_key
    }

    /// Every conversation in memory with its key, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &ConversationSlot)> {
        let mut keys: Vec<usize> = self.slots.keys().copied().collect();
        keys.sort_unstable();
        keys.into_iter().map(|key| (key, &self[key]))
    }
}

impl Index<usize> for Conversations {
    type Output = ConversationSlot;
    fn index(&self, key: usize) -> &ConversationSlot {
        match self.slots.get(&key) {
            Some(slot) => slot,
            // Keys come from the engine's own indexes, which hold only keys in memory.
            None => unreachable!("conversation key {key} is not in memory"),
        }
    }
}

impl IndexMut<usize> for Conversations {
    fn index_mut(&mut self, key: usize) -> &mut ConversationSlot {
        match self.slots.get_mut(&key) {
            Some(slot) => slot,
            None => unreachable!("conversation key {key} is not in memory"),
        }
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
