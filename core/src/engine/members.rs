//! A channel's queue members and its policy's index of the eligible ones (SPEC R10, R11),
//! kept in step by one owner.
//!
//! Invariant: a member is in the policy's index exactly when it is marked eligible, and
//! [`Members::eligible_count`] is the number of such members. Routing trusts the count
//! ("nobody eligible: stop"; "everyone eligible was skipped: a new round", R12), so nothing
//! outside this module can change a member's eligibility.

use crate::keymap::KeyMap;
use crate::model::ReasonCode;
use crate::policy::{AgentKey, AgentStats, RoutingPolicy};
use crate::time::Timestamp;

/// An agent's place in one channel's queue.
pub(crate) struct Member {
    /// Its position in the channel's queue.
    pub position: u32,
    /// Combined availability for this channel's sources (SPEC R3).
    pub available: bool,
    /// Why unavailable.
    pub code: Option<ReasonCode>,
    /// Since when `available` has had its current value: the instant it last flipped, or the
    /// agent joined the queue; `None` when not known (restored from a format 1 snapshot,
    /// which did not keep it, and unchanged since).
    pub since: Option<Timestamp>,
    /// In the policy's index (only [`Members`] changes it).
    eligible: bool,
}

impl Member {
    /// Whether the member is in the policy's index.
    #[cfg(test)]
    pub fn is_eligible(&self) -> bool {
        self.eligible
    }
}

/// The members of one channel's queue and the policy choosing among the eligible ones.
pub(crate) struct Members {
    members: KeyMap<AgentKey, Member>,
    policy: Box<dyn RoutingPolicy>,
    eligible: usize,
}

impl Members {
    /// No member yet; `policy` chooses among the eligible ones.
    pub fn new(policy: Box<dyn RoutingPolicy>) -> Self {
        Self {
            members: KeyMap::default(),
            policy,
            eligible: 0,
        }
    }

    /// How many members are eligible now.
    pub fn eligible_count(&self) -> usize {
        self.eligible
    }

    /// The member `agent`, if it is in the queue.
    pub fn get(&self, agent: AgentKey) -> Option<&Member> {
        self.members.get(&agent)
    }

    /// The member `agent`, to update its position or availability.
    pub fn get_mut(&mut self, agent: AgentKey) -> Option<&mut Member> {
        self.members.get_mut(&agent)
    }

    /// Every member with its key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (AgentKey, &Member)> {
        self.members.iter().map(|(key, member)| (*key, member))
    }

    /// Puts `agent` at `position` (a new member starts unavailable and not eligible, `since`
    /// the instant given).
    pub fn place(&mut self, agent: AgentKey, position: u32, since: Option<Timestamp>) {
        let member = self.members.entry(agent).or_insert(Member {
            position,
            available: false,
            code: None,
            since,
            eligible: false,
        });
        member.position = position;
    }

    /// Takes `agent` out of the queue (and out of the policy's index).
    pub fn remove(&mut self, agent: AgentKey) {
        if let Some(member) = self.members.remove(&agent)
            && member.eligible
        {
            self.policy.remove(agent);
            self.eligible -= 1;
        }
    }

    /// Decides member `agent`'s eligibility with `decide`: the stats to rank it with when it
    /// is eligible, `None` when it is not. True when it became eligible. A non-member is left
    /// alone.
    pub fn refresh(
        &mut self,
        agent: AgentKey,
        decide: impl FnOnce(&Member) -> Option<AgentStats>,
    ) -> bool {
        let Some(member) = self.members.get_mut(&agent) else {
            return false;
        };
        match decide(member) {
            Some(stats) => {
                self.policy.upsert(agent, stats);
                let newly = !member.eligible;
                if newly {
                    member.eligible = true;
                    self.eligible += 1;
                }
                newly
            }
            None => {
                if member.eligible {
                    self.policy.remove(agent);
                    member.eligible = false;
                    self.eligible -= 1;
                }
                false
            }
        }
    }

    /// Puts member `agent` in the policy's index with `stats` (or refreshes them); true when
    /// it was not eligible before.
    #[cfg(test)]
    pub fn make_eligible(&mut self, agent: AgentKey, stats: AgentStats) -> bool {
        self.refresh(agent, |_| Some(stats))
    }

    /// Takes member `agent` out of the policy's index.
    #[cfg(test)]
    pub fn make_ineligible(&mut self, agent: AgentKey) {
        self.refresh(agent, |_| None);
    }

    /// Switches to a new (empty) policy: nobody is eligible until re-evaluated.
    pub fn replace_policy(&mut self, policy: Box<dyn RoutingPolicy>) {
        self.policy = policy;
        for member in self.members.values_mut() {
            member.eligible = false;
        }
        self.eligible = 0;
    }

    /// The policy (to snapshot its own state).
    pub fn policy(&self) -> &dyn RoutingPolicy {
        self.policy.as_ref()
    }

    /// The policy's choice among eligible members not `skipped` (SPEC R11).
    pub fn choose(&mut self, skipped: &dyn Fn(AgentKey) -> bool, out: &mut Vec<AgentKey>) {
        self.policy.choose(skipped, out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn chosen(members: &mut Members) -> Vec<AgentKey> {
        let mut out = Vec::new();
        members.choose(&|_| false, &mut out);
        out
    }

    fn three() -> Members {
        let mut members = Members::new(Box::new(crate::policies::sorted::strict_order()));
        for key in 0..3 {
            members.place(AgentKey(key), key, None);
        }
        members
    }

    #[test]
    fn r10_the_eligible_count_follows_every_change_and_matches_the_policy() {
        let mut m = three();
        assert_eq!(m.eligible_count(), 0);
        assert!(m.make_eligible(AgentKey(1), AgentStats::fresh(1)));
        assert!(
            !m.make_eligible(AgentKey(1), AgentStats::fresh(1)),
            "already eligible"
        );
        assert!(m.make_eligible(AgentKey(2), AgentStats::fresh(2)));
        assert_eq!(m.eligible_count(), 2);
        assert_eq!(chosen(&mut m), [AgentKey(1)]);
        m.make_ineligible(AgentKey(1));
        m.make_ineligible(AgentKey(1));
        assert_eq!(m.eligible_count(), 1);
        assert_eq!(chosen(&mut m), [AgentKey(2)]);
        m.remove(AgentKey(2));
        assert_eq!(m.eligible_count(), 0);
        assert!(chosen(&mut m).is_empty());
        m.remove(AgentKey(0));
        assert_eq!(m.eligible_count(), 0, "removing an ineligible member");
        assert!(
            !m.make_eligible(AgentKey(7), AgentStats::fresh(7)),
            "not a member"
        );
        assert_eq!(m.eligible_count(), 0);
    }

    #[test]
    fn r11_a_new_policy_starts_with_nobody_eligible() {
        let mut m = three();
        m.make_eligible(AgentKey(0), AgentStats::fresh(0));
        m.make_eligible(AgentKey(2), AgentStats::fresh(2));
        m.replace_policy(Box::new(crate::policies::sorted::strict_order()));
        assert_eq!(m.eligible_count(), 0);
        assert!(m.iter().all(|(_, member)| !member.is_eligible()));
        assert!(chosen(&mut m).is_empty());
        m.place(AgentKey(2), 0, None);
        assert!(m.make_eligible(AgentKey(2), AgentStats::fresh(0)));
        assert_eq!(m.get(AgentKey(2)).map(|member| member.position), Some(0));
        assert_eq!(m.eligible_count(), 1);
    }
}
