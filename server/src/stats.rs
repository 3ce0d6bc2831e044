//! Per-channel counts over the last hour, for the supervisor dashboard (SPEC R32): how many
//! conversations each channel queued, offered, saw accepted and closed, and how many went back
//! to the queue, by reason (SPEC R14: `requeued` for held ones, `offers_withdrawn` for offers).
//!
//! Fed by the same committed events the event stream publishes, counted in one bucket per
//! minute of the server's clock (the event's own instant, so a manual clock counts as the
//! system one does, SPEC R18). Memory is bounded: at most [`MINUTES`] buckets, each holding
//! one entry per channel that had events in that minute, each entry one count per reason code.
//! The counts start when the server starts (nothing is counted from the log it replays) and
//! are not kept across restarts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use openline_core::{ChannelId, Event, Timestamp};
use serde::Serialize;

use crate::metrics::bump;

/// How many one-minute buckets are kept: one hour.
pub const MINUTES: i64 = 60;

/// One channel's counts over some minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Conversations that arrived (`conversation.queued`; one that returns to the queue is
    /// counted in `requeued` or `offers_withdrawn`).
    pub queued: u64,
    /// Offers made (`conversation.offered`; an `all_at_once` offer counts once per agent).
    pub offered: u64,
    /// Conversations accepted.
    pub accepted: u64,
    /// Conversations closed.
    pub closed: u64,
    /// Held conversations put back in the queue, by reason code.
    pub requeued: BTreeMap<String, u64>,
    /// Offers taken back with a reason (expired, declined, the agent became unavailable…),
    /// by reason code; an offer withdrawn because another agent accepted has none and is not
    /// counted here.
    pub offers_withdrawn: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, event: &Event) {
        match event {
            Event::Queued { .. } => self.queued += 1,
            Event::Offered { .. } => self.offered += 1,
            Event::Accepted { .. } => self.accepted += 1,
            Event::Closed { .. } => self.closed += 1,
            Event::Requeued { reason, .. } => bump(&mut self.requeued, reason.as_str()),
            Event::OfferWithdrawn {
                reason: Some(reason),
                ..
            } => bump(&mut self.offers_withdrawn, reason.as_str()),
            Event::OfferWithdrawn { reason: None, .. } | Event::AvailabilityChanged { .. } => {}
        }
    }

    fn merge(&mut self, other: &Self) {
        self.queued += other.queued;
        self.offered += other.offered;
        self.accepted += other.accepted;
        self.closed += other.closed;
        for (reason, n) in &other.requeued {
            *self.requeued.entry(reason.clone()).or_default() += n;
        }
        for (reason, n) in &other.offers_withdrawn {
            *self.offers_withdrawn.entry(reason.clone()).or_default() += n;
        }
    }
}

/// One minute of counts.
#[derive(Debug)]
struct Bucket {
    /// Minutes since the Unix epoch.
    minute: i64,
    channels: HashMap<ChannelId, Counts>,
}

fn minute_of(at: Timestamp) -> i64 {
    at.timestamp().div_euclid(60)
}

/// The first instant [`Stats::last_hour`] counts for `now`: the start of the minute
/// [`MINUTES`] − 1 minutes before `now`'s.
pub fn window_start(now: Timestamp) -> Timestamp {
    let minute = minute_of(now) - (MINUTES - 1);
    chrono::DateTime::from_timestamp(minute * 60, 0).unwrap_or(now)
}

/// The counts of the last [`MINUTES`] minutes, shared by the event publisher and readers.
#[derive(Debug)]
pub struct Stats {
    started: Timestamp,
    /// Oldest first; minutes strictly increasing.
    buckets: Mutex<VecDeque<Bucket>>,
}

impl Stats {
    /// Counting from `started` (the server's clock at start).
    pub fn new(started: Timestamp) -> Self {
        Self {
            started,
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    /// When counting started.
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// Counts committed `events` in the minute of their instant. An event older than the
    /// window kept (the newest minute seen, and the [`MINUTES`] − 1 before it) is dropped.
    pub fn record<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            let minute = minute_of(event.at());
            if buckets.back().is_none_or(|last| last.minute < minute) {
                buckets.push_back(Bucket {
                    minute,
                    channels: HashMap::new(),
                });
                while buckets
                    .front()
                    .is_some_and(|first| first.minute <= minute - MINUTES)
                {
                    buckets.pop_front();
                }
            }
            // Events come in commit order, so this is the last bucket but for a rare straggler.
            let Some(bucket) = buckets.iter_mut().rev().find(|b| b.minute == minute) else {
                continue;
            };
            let channel = event.channel();
            match bucket.channels.get_mut(channel) {
                Some(counts) => counts.add(event),
                None => {
                    let mut counts = Counts::default();
                    counts.add(event);
                    bucket.channels.insert(channel.clone(), counts);
                }
            }
        }
    }

    /// Every channel's counts over the hour before `now`: the minute of `now` and the
    /// [`MINUTES`] − 1 before it.
    pub fn last_hour(&self, now: Timestamp) -> HashMap<ChannelId, Counts> {
        let newest = minute_of(now);
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total: HashMap<ChannelId, Counts> = HashMap::new();
        for bucket in buckets
            .iter()
            .filter(|b| b.minute > newest - MINUTES && b.minute <= newest)
        {
            for (channel, counts) in &bucket.channels {
                total.entry(channel.clone()).or_default().merge(counts);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use openline_core::ReasonCode;

    fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 0).unwrap()
    }

    fn offered(channel: &str, seconds: i64) -> Event {
        Event::Offered {
            at: at(seconds),
            conversation: "c".try_into().unwrap(),
            channel: channel.try_into().unwrap(),
            agent: "a".try_into().unwrap(),
        }
    }

    fn requeued(seconds: i64, reason: &'static str) -> Event {
        Event::Requeued {
            at: at(seconds),
            conversation: "c".try_into().unwrap(),
            channel: "web".try_into().unwrap(),
            agent: "a".try_into().unwrap(),
            reason: ReasonCode::from_static(reason),
        }
    }

    fn web(stats: &Stats, now: i64) -> Counts {
        stats
            .last_hour(at(now))
            .remove(&ChannelId::try_from("web").unwrap())
            .unwrap_or_default()
    }

    #[test]
    fn r32_counts_per_channel_and_reason_over_the_last_hour_then_forgets() {
        let stats = Stats::new(at(0));
        stats.record(&[offered("web", 0), offered("mail", 10), offered("web", 59)]);
        stats.record(&[requeued(61, "offline"), requeued(62, "offline")]);
        stats.record(&[requeued(1800, "on_leave")]);
        let counts = web(&stats, 1800);
        assert_eq!(counts.offered, 2);
        assert_eq!(
            counts.requeued,
            BTreeMap::from([("offline".into(), 2), ("on_leave".into(), 1)])
        );
        let mail = stats.last_hour(at(1800));
        assert_eq!(mail[&ChannelId::try_from("mail").unwrap()].offered, 1);
        // An hour after the first minute, its events no longer count; the next minute's do.
        assert_eq!(web(&stats, 3600).offered, 0);
        assert_eq!(web(&stats, 3600).requeued.get("offline"), Some(&2));
        assert_eq!(web(&stats, 3660 + 59).requeued.get("offline"), None);
        assert_eq!(web(&stats, 3660 + 59).requeued.get("on_leave"), Some(&1));
    }

    #[test]
    fn r21_memory_stays_bounded_by_the_window() {
        let stats = Stats::new(at(0));
        for minute in 0..10 * MINUTES {
            stats.record(&[offered("web", minute * 60)]);
        }
        assert_eq!(stats.buckets.lock().unwrap().len(), MINUTES as usize);
        assert_eq!(web(&stats, 10 * MINUTES * 60 - 1).offered, MINUTES as u64);
        // A straggler older than the window is dropped, not counted.
        stats.record(&[offered("web", 0)]);
        assert_eq!(web(&stats, 10 * MINUTES * 60 - 1).offered, MINUTES as u64);
    }
}
