//! `round_robin`: rotation through the queue, starting after the last agent who got one.

use crate::policy::{AgentKey, AgentStats, OrderedPool, RoutingPolicy};
use crate::registry::PolicyDescriptor;

/// Rotates through eligible agents in queue order, remembering who got the last offer.
#[derive(Default)]
pub struct RoundRobin {
    pool: OrderedPool<u32>,
    last_position: Option<u32>,
}

impl RoutingPolicy for RoundRobin {
    fn upsert(&mut self, agent: AgentKey, stats: AgentStats) {
        self.pool.upsert(agent, stats.queue_position);
    }

    fn remove(&mut self, agent: AgentKey) {
        self.pool.remove(agent);
    }

    fn choose(&mut self, skipped: &dyn Fn(AgentKey) -> bool, out: &mut Vec<AgentKey>) {
        let next = match self.last_position {
            Some(last) => self.pool.first_after(last, skipped),
            None => self.pool.first(skipped).map(|(_, agent)| agent),
        };
        if let Some(agent) = next {
            self.last_position = self.pool_position(agent);
            out.push(agent);
        }
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({ "last_position": self.last_position })
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct State {
            last_position: Option<u32>,
        }
        let state: State = serde_json::from_value(state).map_err(|e| e.to_string())?;
        self.last_position = state.last_position;
        Ok(())
    }
}

impl RoundRobin {
    fn pool_position(&self, agent: AgentKey) -> Option<u32> {
        self.pool.key(agent)
    }
}

inventory::submit! {
    PolicyDescriptor {
        name: "round_robin",
        summary: "rotation through the queue, starting after the last agent who got one",
        build: |_| Ok(Box::new(RoundRobin::default())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn r11_round_robin_rotates_and_wraps() {
        let mut p = RoundRobin::default();
        for i in 0..3 {
            p.upsert(AgentKey(10 + i), AgentStats::fresh(i));
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            p.choose(&|_| false, &mut out);
            got.extend(out.into_iter().map(|a| a.0));
        }
        assert_eq!(got, [10, 11, 12, 10]);
    }

    #[test]
    fn r21a_a_restored_rotation_continues_where_it_stood() {
        let mut p = RoundRobin::default();
        for i in 0..3 {
            p.upsert(AgentKey(i), AgentStats::fresh(i));
        }
        let mut out = Vec::new();
        p.choose(&|_| false, &mut out); // 0
        p.choose(&|_| false, &mut out); // 1
        let mut restored = RoundRobin::default();
        restored.restore(p.snapshot()).unwrap();
        for i in 0..3 {
            restored.upsert(AgentKey(i), AgentStats::fresh(i));
        }
        out.clear();
        restored.choose(&|_| false, &mut out);
        assert_eq!(out, [AgentKey(2)]);
        assert!(restored.restore(serde_json::json!({"cursor": 1})).is_err());
    }

    #[test]
    fn r11_round_robin_continues_after_last_even_when_it_left() {
        let mut p = RoundRobin::default();
        for i in 0..3 {
            p.upsert(AgentKey(i), AgentStats::fresh(i));
        }
        let mut out = Vec::new();
        p.choose(&|_| false, &mut out); // 0
        p.choose(&|_| false, &mut out); // 1
        p.remove(AgentKey(1));
        out.clear();
        p.choose(&|_| false, &mut out);
        assert_eq!(out, [AgentKey(2)]);
    }
}
