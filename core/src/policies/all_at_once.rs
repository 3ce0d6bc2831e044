//! `all_at_once`: offer to every eligible agent; the first to accept gets it.

use crate::policy::{AgentKey, AgentStats, OrderedPool, RoutingPolicy};
use crate::registry::PolicyDescriptor;

/// Offers each conversation to every eligible, non-skipped agent at once.
#[derive(Default)]
pub struct AllAtOnce {
    pool: OrderedPool<u32>,
}

impl RoutingPolicy for AllAtOnce {
    fn upsert(&mut self, agent: AgentKey, stats: AgentStats) {
        self.pool.upsert(agent, stats.queue_position);
    }

    fn remove(&mut self, agent: AgentKey) {
        self.pool.remove(agent);
    }

    fn choose(&mut self, skipped: &dyn Fn(AgentKey) -> bool, out: &mut Vec<AgentKey>) {
        out.extend(self.pool.iter().filter(|a| !skipped(*a)));
    }
}

inventory::submit! {
    PolicyDescriptor {
        name: "all_at_once",
        summary: "offer to every eligible agent; the first to accept gets it",
        build: |_| Ok(Box::new(AllAtOnce::default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r11_all_at_once_offers_every_eligible_agent_in_queue_order() {
        let mut p = AllAtOnce::default();
        for (agent, position) in [(5, 1), (6, 0), (7, 2)] {
            let stats = AgentStats {
                queue_position: position,
                last_reply_at: None,
                last_offer_at: None,
                open_conversations: 0,
            };
            p.upsert(AgentKey(agent), stats);
        }
        let mut out = Vec::new();
        p.choose(&|a| a == AgentKey(7), &mut out);
        assert_eq!(out, [AgentKey(6), AgentKey(5)]);
    }
}
