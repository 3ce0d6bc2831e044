//! One ordered set of every pending deadline: the engine wakes exactly at the first one.

use std::collections::BTreeSet;

use crate::policy::AgentKey;
use crate::time::Timestamp;

/// Something that happens by itself at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Deadline {
    /// A conversation's offer expires (SPEC R12).
    OfferExpiry(usize),
    /// A source's verdict for an agent changes by itself (SPEC R3 `until`).
    Verdict(AgentKey, usize),
}

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    set: BTreeSet<(Timestamp, Deadline)>,
}

impl Deadlines {
    pub(crate) fn first(&self) -> Option<Timestamp> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Replaces the instant of `deadline` (`old` → `new`; `None` = absent).
    pub(crate) fn reschedule(
        &mut self,
        deadline: Deadline,
        old: Option<Timestamp>,
        new: Option<Timestamp>,
    ) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.set.remove(&(old, deadline));
        }
        if let Some(new) = new {
            self.set.insert((new, deadline));
        }
    }

    /// Removes and returns the first deadline due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, Deadline)> {
        match self.set.first() {
            Some((at, _)) if *at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}
