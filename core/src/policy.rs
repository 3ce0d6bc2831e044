//! The [`RoutingPolicy`] plugin trait: which eligible agent(s) get the next conversation
//! (SPEC R11). A policy is built per channel and keeps its own index of the channel's
//! eligible agents, so a decision never rescans the whole queue.

use std::collections::BTreeSet;

use crate::keymap::KeyMap;

use crate::time::Timestamp;

/// An opaque, dense handle for an agent inside one engine; ordered and cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentKey(pub u32);

/// What policies may rank an eligible agent by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentStats {
    /// Position in this channel's queue (0 = first).
    pub queue_position: u32,
    /// When the agent last replied to a customer, on any channel.
    pub last_reply_at: Option<Timestamp>,
    /// When the agent was last offered a conversation, on any channel.
    pub last_offer_at: Option<Timestamp>,
    /// Conversations offered to or held by the agent, on all channels.
    pub open_conversations: u32,
}

impl AgentStats {
    /// An agent at `queue_position` that has never replied nor been offered anything and
    /// holds nothing (a fresh agent; also handy in policy tests).
    pub fn fresh(queue_position: u32) -> Self {
        Self {
            queue_position,
            last_reply_at: None,
            last_offer_at: None,
            open_conversations: 0,
        }
    }
}

/// Picks the agent(s) to offer a conversation to among the channel's eligible agents.
///
/// The engine tells the policy whenever an agent becomes eligible, stops being eligible or
/// changes its [`AgentStats`]; `choose` then answers from the policy's own index.
pub trait RoutingPolicy: Send + Sync {
    /// `agent` is eligible with these stats (insert or update).
    fn upsert(&mut self, agent: AgentKey, stats: AgentStats);

    /// `agent` is no longer eligible.
    fn remove(&mut self, agent: AgentKey);

    /// Appends to `out` the agent(s) to offer the next conversation to, skipping those for
    /// which `skipped` is true; leaves `out` empty when nobody fits. Called only when an
    /// offer will be made, so a policy may advance its own state (e.g. a rotation cursor).
    fn choose(&mut self, skipped: &dyn Fn(AgentKey) -> bool, out: &mut Vec<AgentKey>);

    /// The policy's own state beyond its index of eligible agents (e.g. a rotation cursor),
    /// for snapshots (SPEC R21a). The index itself is rebuilt with `upsert` on restore, so a
    /// policy without such state keeps the default (`null`).
    fn snapshot(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Takes back what [`RoutingPolicy::snapshot`] gave, before the index is rebuilt; on
    /// error the snapshot cannot be loaded (SPEC R22).
    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        match state {
            serde_json::Value::Null => Ok(()),
            other => Err(format!("this policy keeps no state, got {other}")),
        }
    }
}

/// Eligible agents ordered by a policy-defined key: the shared index behind the sorted
/// built-in policies. `first` returns the smallest key not skipped.
#[derive(Debug, Default)]
pub struct OrderedPool<K: Ord + Copy> {
    keys: KeyMap<AgentKey, K>,
    order: BTreeSet<(K, AgentKey)>,
}

impl<K: Ord + Copy> OrderedPool<K> {
    /// An empty pool.
    pub fn new() -> Self {
        Self {
            keys: KeyMap::default(),
            order: BTreeSet::new(),
        }
    }

    /// Inserts `agent` with `key`, replacing its previous key.
    pub fn upsert(&mut self, agent: AgentKey, key: K) {
        if let Some(old) = self.keys.insert(agent, key) {
            if old == key {
                return;
            }
            self.order.remove(&(old, agent));
        }
        self.order.insert((key, agent));
    }

    /// Removes `agent` if present.
    pub fn remove(&mut self, agent: AgentKey) {
        if let Some(old) = self.keys.remove(&agent) {
            self.order.remove(&(old, agent));
        }
    }

    /// The agent with the smallest key that is not skipped.
    pub fn first(&self, skipped: &dyn Fn(AgentKey) -> bool) -> Option<(K, AgentKey)> {
        self.order.iter().find(|(_, a)| !skipped(*a)).copied()
    }

    /// The key `agent` is stored with, if it is in the pool.
    pub fn key(&self, agent: AgentKey) -> Option<K> {
        self.keys.get(&agent).copied()
    }

    /// Every agent in key order.
    pub fn iter(&self) -> impl Iterator<Item = AgentKey> + '_ {
        self.order.iter().map(|(_, a)| *a)
    }

    /// Number of agents in the pool.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no agent is eligible.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl OrderedPool<u32> {
    /// The first agent not skipped whose key is strictly greater than `after`, wrapping
    /// around to the smallest key when there is none (a rotation).
    pub fn first_after(&self, after: u32, skipped: &dyn Fn(AgentKey) -> bool) -> Option<AgentKey> {
        use std::ops::Bound::{Excluded, Unbounded};
        let tail = self
            .order
            .range((Excluded((after, AgentKey(u32::MAX))), Unbounded));
        tail.chain(self.order.iter())
            .map(|(_, a)| *a)
            .find(|a| !skipped(*a))
    }
}
