//! Policies that offer to the single best-ranked eligible agent: `evenly`, `strict_order`,
//! `least_busy` and `longest_idle` differ only in how they rank.

use crate::policy::{AgentKey, AgentStats, OrderedPool, RoutingPolicy};
use crate::registry::{PluginError, PolicyDescriptor};
use crate::time::Timestamp;

/// Offers to the eligible agent with the smallest rank, as computed by `rank`.
pub struct SortedPolicy<K: Ord + Copy> {
    rank: fn(&AgentStats) -> K,
    pool: OrderedPool<K>,
}

impl<K: Ord + Copy + Send + Sync> SortedPolicy<K> {
    /// A policy ranking eligible agents with `rank` (smallest first).
    pub fn new(rank: fn(&AgentStats) -> K) -> Self {
        Self {
            rank,
            pool: OrderedPool::new(),
        }
    }
}

impl<K: Ord + Copy + Send + Sync> RoutingPolicy for SortedPolicy<K> {
    fn upsert(&mut self, agent: AgentKey, stats: AgentStats) {
        self.pool.upsert(agent, (self.rank)(&stats));
    }

    fn remove(&mut self, agent: AgentKey) {
        self.pool.remove(agent);
    }

    fn choose(&mut self, skipped: &dyn Fn(AgentKey) -> bool, out: &mut Vec<AgentKey>) {
        out.extend(self.pool.first(skipped).map(|(_, agent)| agent));
    }
}

/// `evenly`: the agent whose last reply to a customer is the longest ago (never replied =
/// first); ties by queue order.
pub fn evenly() -> SortedPolicy<(Option<Timestamp>, u32)> {
    SortedPolicy::new(|s| (s.last_reply_at, s.queue_position))
}

/// `strict_order`: always the first eligible agent in queue order.
pub fn strict_order() -> SortedPolicy<u32> {
    SortedPolicy::new(|s| s.queue_position)
}

/// `least_busy`: fewest open conversations; ties by longest idle (oldest last offer), then
/// queue order.
pub fn least_busy() -> SortedPolicy<(u32, Option<Timestamp>, u32)> {
    SortedPolicy::new(|s| (s.open_conversations, s.last_offer_at, s.queue_position))
}

/// `longest_idle`: the longest time since the agent's last offer (never offered = first);
/// ties by queue order.
pub fn longest_idle() -> SortedPolicy<(Option<Timestamp>, u32)> {
    SortedPolicy::new(|s| (s.last_offer_at, s.queue_position))
}

fn boxed<P: RoutingPolicy + 'static>(policy: P) -> Result<Box<dyn RoutingPolicy>, PluginError> {
    Ok(Box::new(policy))
}

inventory::submit! {
    PolicyDescriptor {
        name: "evenly",
        summary: "the agent whose last reply to a customer is the longest ago",
        build: |_| boxed(evenly()),
    }
}
inventory::submit! {
    PolicyDescriptor {
        name: "strict_order",
        summary: "always the first eligible agent in queue order",
        build: |_| boxed(strict_order()),
    }
}
inventory::submit! {
    PolicyDescriptor {
        name: "least_busy",
        summary: "fewest open conversations, ties by longest idle",
        build: |_| boxed(least_busy()),
    }
}
inventory::submit! {
    PolicyDescriptor {
        name: "longest_idle",
        summary: "longest time since the agent's last offer",
        build: |_| boxed(longest_idle()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn pick(policy: &mut dyn RoutingPolicy, skipped: &[u32]) -> Vec<u32> {
        let mut out = Vec::new();
        policy.choose(&|a| skipped.contains(&a.0), &mut out);
        out.into_iter().map(|a| a.0).collect()
    }

    #[test]
    fn r11_evenly_prefers_never_replied_then_longest_ago_then_queue_order() {
        let mut p = evenly();
        let t = |s| Some(parse_rfc3339(s).unwrap());
        p.upsert(
            AgentKey(1),
            AgentStats {
                last_reply_at: t("2026-01-01T10:00:00Z"),
                ..AgentStats::fresh(0)
            },
        );
        p.upsert(
            AgentKey(2),
            AgentStats {
                last_reply_at: t("2026-01-01T09:00:00Z"),
                ..AgentStats::fresh(1)
            },
        );
        assert_eq!(pick(&mut p, &[]), [2]);
        p.upsert(AgentKey(3), AgentStats::fresh(2));
        p.upsert(AgentKey(4), AgentStats::fresh(3));
        assert_eq!(
            pick(&mut p, &[]),
            [3],
            "never replied first, ties by queue order"
        );
        assert_eq!(pick(&mut p, &[3]), [4]);
    }

    #[test]
    fn r11_strict_order_takes_first_eligible_in_queue_order() {
        let mut p = strict_order();
        p.upsert(AgentKey(7), AgentStats::fresh(2));
        p.upsert(AgentKey(8), AgentStats::fresh(1));
        assert_eq!(pick(&mut p, &[]), [8]);
        p.remove(AgentKey(8));
        assert_eq!(pick(&mut p, &[]), [7]);
        assert!(pick(&mut p, &[7]).is_empty());
    }

    #[test]
    fn r11_least_busy_takes_fewest_open_conversations() {
        let mut p = least_busy();
        p.upsert(
            AgentKey(1),
            AgentStats {
                open_conversations: 2,
                ..AgentStats::fresh(0)
            },
        );
        p.upsert(
            AgentKey(2),
            AgentStats {
                open_conversations: 1,
                ..AgentStats::fresh(1)
            },
        );
        assert_eq!(pick(&mut p, &[]), [2]);
        p.upsert(
            AgentKey(2),
            AgentStats {
                open_conversations: 3,
                ..AgentStats::fresh(1)
            },
        );
        assert_eq!(pick(&mut p, &[]), [1], "a stats update re-ranks the agent");
    }

    #[test]
    fn r11_longest_idle_takes_oldest_last_offer() {
        let mut p = longest_idle();
        let t = |s| Some(parse_rfc3339(s).unwrap());
        p.upsert(
            AgentKey(1),
            AgentStats {
                last_offer_at: t("2026-01-01T10:00:00Z"),
                ..AgentStats::fresh(0)
            },
        );
        p.upsert(
            AgentKey(2),
            AgentStats {
                last_offer_at: t("2026-01-01T08:00:00Z"),
                ..AgentStats::fresh(1)
            },
        );
        assert_eq!(pick(&mut p, &[]), [2]);
    }
}
