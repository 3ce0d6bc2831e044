//! # openline-hr — the `hr` availability source (SPEC R4)
//!
//! What HR records say about an agent: dismissal and leave. The source only ever **blocks**
//! or **abstains**: HR can make an agent unavailable, never available (SPEC R3).
//!
//! ## Events (`"source": "hr"`)
//! - `dismissed` — blocks (code `dismissed`) from the signal's `at` until `rehired`.
//!   Dismissing a dismissed agent keeps the first dismissal instant.
//! - `rehired` — lifts a dismissal; harmless when the agent is not dismissed.
//! - `leave` with `id`, `from`, `to` (RFC 3339; `to` must be after `from`) — blocks (code
//!   `on_leave`) inside the half-open interval `[from, to)`. Leaves may lie in the future;
//!   an agent may have several; re-sending an existing `id` replaces that leave.
//! - `leave_cancelled` with `id` — removes the leave; cancelling an already cancelled leave
//!   is a harmless repeat. An `id` the agent does not hold is refused while no leave of the
//!   agent has been forgotten (see "Forgetting"); once some have been, it may be one of them,
//!   so the cancellation is accepted and changes nothing.
//!
//! ## Settings (`[plugins.hr]`)
//! None: the table must be absent or empty (any key is refused).
//!
//! ## Boundaries
//! A leave `[from, to)`: at `from - 1s` the verdict is `abstain` with `until = from`; from
//! `from` to `to - 1s` it is `block` with `until` = the end of the contiguous blocked span
//! (overlapping or touching leaves merge); at `to` it is no longer blocked. A dismissal
//! dominates any leave and never ends by itself (`until = None`). Only leaves that have not
//! ended by the instant asked about are merged and named: with `a` over `[00:00, 00:10)` and
//! `b` over `[00:10, 00:20)`, the verdict at 00:15 is "on leave `b` from 00:10 until 00:20".
//!
//! ## Out-of-order signals
//! Dismissal state and each leave id keep the instant of the last signal applied to them.
//! A signal older than that (e.g. a `rehired` at 09:00 arriving after a `dismissed` at
//! 10:00, or a stale version of leave `x`) is validated, accepted and ignored: it never moves
//! the state backwards. Signals at the same instant apply in arrival order. This holds for
//! the ids the agent still holds: once an id is forgotten, a late signal older than its
//! forgotten version is no longer recognised as stale (a late `leave` is applied, and
//! forgotten at once if its period has ended too).
//!
//! Verdicts describe the state after the last signal ingested, asked about instants at or
//! after the latest `at` applied to the agent (the engine never asks about the past).
//!
//! ## Forgetting (SPEC R21c, R24a)
//! Each accepted signal moves the agent's *horizon* to the latest `at` applied to it so far,
//! then forgets every leave id whose period ends at or before the horizon: such a leave can
//! never block again.
//! - A leave `[from, to)` is forgotten by the first signal applied at or after `to` (a leave
//!   sent when it has already ended, by its own signal).
//! - A cancelled leave is kept as a tombstone (its id, the instant of the cancellation and
//!   the period it cancelled), to ignore a late older version of the id and to accept a
//!   repeated cancellation, until that period would have ended: it is forgotten by the same
//!   rule, at the cancelled period's `to`. Tombstones are thus bounded like future leaves.
//!
//! An agent's record holds its dismissal and the ids that can still matter, by id and in the
//! order of their start (leaves) and end (leaves and tombstones), and the union of its leaves
//! as disjoint spans. With `n` ids held, adding a leave costs O(log n) (amortised: merging
//! spans), plus forgetting what ended (each id once: amortised O(log n)); replacing or
//! cancelling one costs O(log n + the leaves of the span it was in); a verdict costs
//! O(log n + the leaves that ended since the agent's last signal, which the next signal
//! forgets) and names at most ten leaves of its span, then says "and others". Every
//! history of signals that `hr` accepted when it kept every id forever is still accepted
//! whole, so a command log it wrote replays (SPEC R19).

use std::collections::{BTreeMap, BTreeSet};

use openline_core::model::ReasonCode;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "hr";

/// The events the `hr` source accepts.
pub const EVENTS: &[&str] = &["dismissed", "rehired", "leave", "leave_cancelled"];

/// `[plugins.hr]` settings: there are none, so only `null` or an empty table is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrSettings {}

/// The `hr` source: dismissal and leaves (SPEC R4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HrSource;

/// The reason code of a dismissal's `block`.
pub const DISMISSED: ReasonCode = ReasonCode::from_static("dismissed");
/// The reason code of a leave's `block`.
pub const ON_LEAVE: ReasonCode = ReasonCode::from_static("on_leave");
/// Every reason code this source's blocks carry.
const REASON_CODES: &[ReasonCode] = &[DISMISSED, ON_LEAVE];

/// Everything HR said about one agent that can still matter (see the crate's "Forgetting").
///
/// Snapshotted as JSON without its ordered indexes, which are rebuilt when it is read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RecordData")]
pub struct AgentRecord {
    /// Dismissed since this instant (`None` = employed).
    dismissed_since: Option<Timestamp>,
    /// Instant of the last `dismissed`/`rehired` applied.
    status_at: Option<Timestamp>,
    /// The latest `at` of a signal applied to the agent: leaves ended by then are forgotten.
    horizon: Option<Timestamp>,
    /// Whether some leave id of the agent was forgotten (a cancellation of an id not held
    /// may then be for one of them, and is accepted).
    forgot_leaves: bool,
    /// Leaves by id, cancelled ones kept as tombstones until their period would have ended.
    leaves: BTreeMap<String, LeaveRecord>,
    /// The leaves that are not cancelled, as `(from, to, id)`: in the order of their start.
    #[serde(skip_serializing)]
    by_start: BTreeSet<(Timestamp, Timestamp, String)>,
    /// Every id held (leaves and tombstones), as `(to, id)`: in the order of their end.
    #[serde(skip_serializing)]
    by_end: BTreeSet<(Timestamp, String)>,
    /// The union of the leaves that are not cancelled, as disjoint spans `start → end`
    /// (overlapping or touching leaves merge), so a verdict finds the end of the span it
    /// reports without walking the leaves in it.
    #[serde(skip_serializing)]
    spans: BTreeMap<Timestamp, Timestamp>,
}

/// How many leave ids a reason names; a longer span says "and others".
const MAX_NAMED: usize = 10;

/// One leave id's latest version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct LeaveRecord {
    /// Instant of the last signal applied to this id.
    changed_at: Timestamp,
    /// Start of the period `[from, to)` (for a tombstone: of the period it cancelled).
    from: Timestamp,
    /// End of the period.
    to: Timestamp,
    /// Cancelled: a tombstone, which never blocks.
    cancelled: bool,
}

/// An [`AgentRecord`] as snapshotted: the same, without the indexes.
#[derive(Deserialize)]
struct RecordData {
    dismissed_since: Option<Timestamp>,
    status_at: Option<Timestamp>,
    horizon: Option<Timestamp>,
    forgot_leaves: bool,
    leaves: BTreeMap<String, LeaveRecord>,
}

impl From<RecordData> for AgentRecord {
    fn from(data: RecordData) -> Self {
        let mut record = Self {
            dismissed_since: data.dismissed_since,
            status_at: data.status_at,
            horizon: data.horizon,
            forgot_leaves: data.forgot_leaves,
            ..Self::default()
        };
        for (id, leave) in data.leaves {
            record.put(id, leave);
        }
        record
    }
}

/// A validated signal, ready to apply.
#[derive(Debug)]
enum Change {
    Dismissed,
    Rehired,
    Leave {
        id: String,
        from: Timestamp,
        to: Timestamp,
    },
    Cancel {
        id: String,
    },
}

impl HrSource {
    /// Validates `signal` against the agent's `record`; `Ok(None)` when it is accepted but
    /// ignored: older than what it would replace, or cancelling an id that may have been
    /// forgotten.
    fn plan(
        record: Option<&AgentRecord>,
        agent: &str,
        signal: &Signal,
    ) -> Result<Option<Change>, SignalError> {
        let change = match signal.event.as_str() {
            "dismissed" => {
                signal.only_fields(&[])?;
                Change::Dismissed
            }
            "rehired" => {
                signal.only_fields(&[])?;
                Change::Rehired
            }
            "leave" => {
                signal.only_fields(&["id", "from", "to"])?;
                let id = leave_id(signal)?;
                let from = signal.time_field("from")?;
                let to = signal.time_field("to")?;
                if to <= from {
                    return Err(SignalError::new(format!(
                        "field `to` ({}) must be after `from` ({})",
                        to.to_rfc3339(),
                        from.to_rfc3339()
                    )));
                }
                Change::Leave { id, from, to }
            }
            "leave_cancelled" => {
                signal.only_fields(&["id"])?;
                Change::Cancel {
                    id: leave_id(signal)?,
                }
            }
            other => return Err(SignalError::unknown_event(NAME, other, EVENTS)),
        };
        let last_change = match &change {
            Change::Dismissed | Change::Rehired => record.and_then(|r| r.status_at),
            Change::Leave { id, .. } => record.and_then(|r| r.leaves.get(id)).map(|l| l.changed_at),
            Change::Cancel { id } => match record.and_then(|r| r.leaves.get(id)) {
                Some(leave) => Some(leave.changed_at),
                None if record.is_some_and(|r| r.forgot_leaves) => return Ok(None),
                None => {
                    return Err(SignalError::new(format!(
                        "field `id`: no leave `{id}` is known for agent `{agent}`"
                    )));
                }
            },
        };
        if last_change.is_some_and(|last| signal.at < last) {
            return Ok(None);
        }
        Ok(Some(change))
    }
}

/// The non-empty `id` field of a leave signal.
fn leave_id(signal: &Signal) -> Result<String, SignalError> {
    let id = signal.str_field("id")?;
    if id.is_empty() {
        return Err(SignalError::new("field `id` must not be empty"));
    }
    Ok(id.to_owned())
}

/// A date and time for leave reasons, which may span days: "2026-01-08 00:00:00".
fn stamp(at: Timestamp) -> String {
    format!("{} {}", at.format("%Y-%m-%d"), clock_time(at))
}

/// The earlier of two optional instants.
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl AgentRecord {
    /// How many leaves (not cancelled) the record holds: the future and running ones, and
    /// those that ended since the agent's last signal (the next one forgets them).
    pub fn leave_count(&self) -> usize {
        self.by_start.len()
    }

    /// Records `change` (if any), planned from a signal at `at` (see [`HrSource::plan`]),
    /// then forgets the leaves that ended by the horizon.
    fn change(&mut self, change: Option<Change>, at: Timestamp) {
        match change {
            None => {}
            Some(Change::Dismissed) => {
                self.dismissed_since.get_or_insert(at);
                self.status_at = Some(at);
            }
            Some(Change::Rehired) => {
                self.dismissed_since = None;
                self.status_at = Some(at);
            }
            Some(Change::Leave { id, from, to }) => {
                let leave = LeaveRecord {
                    changed_at: at,
                    from,
                    to,
                    cancelled: false,
                };
                self.put(id, leave);
            }
            Some(Change::Cancel { id }) => {
                if let Some(&leave) = self.leaves.get(&id) {
                    let tombstone = LeaveRecord {
                        changed_at: at,
                        cancelled: true,
                        ..leave
                    };
                    self.put(id, tombstone);
                }
            }
        }
        let horizon = *self.horizon.insert(self.horizon.map_or(at, |h| h.max(at)));
        self.forget_ended(horizon);
    }

    /// Sets leave `id` to `leave`, replacing its previous version, in every index.
    fn put(&mut self, id: String, leave: LeaveRecord) {
        if let Some(old) = self.leaves.insert(id.clone(), leave) {
            if !old.cancelled {
                self.by_start.remove(&(old.from, old.to, id.clone()));
                self.uncover(old.from);
            }
            self.by_end.remove(&(old.to, id.clone()));
        }
        if !leave.cancelled {
            self.by_start.insert((leave.from, leave.to, id.clone()));
            self.cover(leave.from, leave.to);
        }
        self.by_end.insert((leave.to, id));
    }

    /// Adds `[from, to)` to the spans, merging those it overlaps or touches: amortised
    /// O(log n), as each merge removes a span.
    fn cover(&mut self, from: Timestamp, to: Timestamp) {
        let (mut start, mut end) = (from, to);
        while let Some((&s, &e)) = self.spans.range(..=end).next_back() {
            if e < start {
                break;
            }
            start = start.min(s);
            end = end.max(e);
            self.spans.remove(&s);
        }
        self.spans.insert(start, end);
    }

    /// Rebuilds the span that covered a leave starting at `from`, just taken out of
    /// `by_start`, from the leaves still in it: O(log n + the leaves in that span).
    fn uncover(&mut self, from: Timestamp) {
        let Some((&start, &end)) = self.spans.range(..=from).next_back() else {
            return;
        };
        self.spans.remove(&start);
        let inside: Vec<(Timestamp, Timestamp)> = self
            .by_start
            .range((start, Timestamp::MIN_UTC, String::new())..)
            .take_while(|(f, _, _)| *f < end)
            .map(|(f, t, _)| (*f, *t))
            .collect();
        for (f, t) in inside {
            self.cover(f, t);
        }
    }

    /// Forgets every id whose period ends at or before `horizon`, earliest end first.
    fn forget_ended(&mut self, horizon: Timestamp) {
        while self.by_end.first().is_some_and(|(to, _)| *to <= horizon) {
            let Some((to, id)) = self.by_end.pop_first() else {
                break;
            };
            if let Some(leave) = self.leaves.remove(&id)
                && !leave.cancelled
            {
                self.by_start.remove(&(leave.from, to, id));
            }
            self.forgot_leaves = true;
        }
        // Spans ended by the horizon cover only forgotten leaves; the one holding the
        // horizon starts, from now on, where its first leaf still held does (each leaf left
        // in it holds the horizon or starts after it, so they stay one span).
        while self
            .spans
            .first_key_value()
            .is_some_and(|(_, end)| *end <= horizon)
        {
            self.spans.pop_first();
        }
        if let Some((&start, &end)) = self.spans.first_key_value()
            && start < horizon
        {
            let first_held = self
                .by_start
                .range((start, Timestamp::MIN_UTC, String::new())..)
                .next()
                .map(|(from, _, _)| *from)
                .filter(|from| *from < end);
            if first_held != Some(start) {
                self.spans.remove(&start);
                if let Some(from) = first_held {
                    self.spans.insert(from, end);
                }
            }
        }
    }

    /// The verdict at `now`: a dismissal dominates any leave.
    fn verdict(&self, now: Timestamp) -> Verdict {
        let dismissal = self.dismissed_since;
        if let Some(since) = dismissal.filter(|since| *since <= now) {
            return Verdict::block(DISMISSED, format!("dismissed since {}", stamp(since)));
        }
        let mut verdict = self.leave_verdict(now);
        // A dismissal recorded for a later instant than `now` changes the verdict then.
        verdict.until = earliest(verdict.until, dismissal);
        verdict
    }

    /// The leave verdict at `now`: blocked until the end of the contiguous span of leaves
    /// containing `now`, else abstain until the next leave starts. Leaves ended by `now`
    /// take no part.
    fn leave_verdict(&self, now: Timestamp) -> Verdict {
        // In start order, the first leave not ended is running if any is (a running leave
        // starts before any future one), else the next; the span is it and the leaves that
        // overlap or touch what came before.
        let mut leaves = self.by_start.iter().filter(|(_, to, _)| *to > now);
        let Some((start, first_end, first)) = leaves.next() else {
            return Verdict::abstain("not on leave, none scheduled");
        };
        let start = *start;
        // The span holding the first leave not ended ends where it does: the leaves before
        // that one ended by `now`, so they cannot reach further (SPEC R21c: no walk).
        let end = self
            .spans
            .range(..=start)
            .next_back()
            .map_or(*first_end, |(_, end)| (*end).max(*first_end));
        let mut ids = vec![first.as_str()];
        let mut others = false;
        for (from, _, id) in leaves {
            if *from > end {
                break;
            }
            if ids.len() == MAX_NAMED {
                others = true;
                break;
            }
            ids.push(id);
        }
        let named = format!(
            "`{}`{}",
            ids.join("`, `"),
            if others { " and others" } else { "" }
        );
        if now < start {
            return Verdict::abstain(format!(
                "not on leave; next leave {named} from {}",
                stamp(start)
            ))
            .until(start);
        }
        Verdict::block(
            ON_LEAVE,
            format!(
                "on leave {named} from {} until {}",
                stamp(start),
                stamp(end)
            ),
        )
        .until(end)
    }
}

impl Source for HrSource {
    type Settings = HrSettings;
    type State = AgentRecord;
    const EVENTS: &'static [&'static str] = EVENTS;

    fn new(HrSettings {}: HrSettings) -> Self {
        Self
    }

    fn verdict(
        &self,
        record: Option<&AgentRecord>,
        _: &AgentContext<'_>,
        now: Timestamp,
    ) -> Verdict {
        let Some(record) = record else {
            return Verdict::abstain("no HR record: not dismissed, not on leave");
        };
        record.verdict(now)
    }

    /// A leave may be cancelled in the batch that adds it: the generic part applies a batch
    /// in order to a scratch copy of the agent's record.
    fn apply(
        &self,
        record: Option<&AgentRecord>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<AgentRecord, SignalError> {
        let change = Self::plan(record, agent.id, signal)?;
        let mut record = record.cloned().unwrap_or_default();
        record.change(change, signal.at);
        Ok(record)
    }

    /// Validates, then changes the record where it is: O(log n) in the leaves it holds.
    fn apply_in_place(
        &self,
        record: &mut AgentRecord,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<(), SignalError> {
        let change = Self::plan(Some(record), agent.id, signal)?;
        record.change(change, signal.at);
        Ok(())
    }

    /// Validates only: no copy of the record.
    fn check(
        &self,
        record: Option<&AgentRecord>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<(), SignalError> {
        Self::plan(record, agent.id, signal).map(drop)
    }

    fn reason_codes(&self) -> &[ReasonCode] {
        REASON_CODES
    }
}

openline_core::register_source! {
    HrSource,
    name: NAME,
    summary: "HR records: dismissal and leave (blocks, never grants)",
    can_make_available: false,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::ops::Range;

    use openline_core::model::GroupDirectory;
    use openline_core::test_util::Step::{Expect, Reason, ReasonHas, Refused, RefusedWith, Send};
    use openline_core::test_util::{
        SourceProbe, Step, UnderTest, assert_default_settings, context, signal, t,
    };
    use openline_core::test_util::{assert_registered_source, assert_settings_refused};
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;
    use openline_core::source::AvailabilitySource;
    use openline_core::typed::TypedSource;

    #[test]
    fn r20_a_leave_can_be_added_and_cancelled_in_one_batch() {
        let source = TypedSource::new(NAME, HrSource);
        let directory = GroupDirectory::new();
        let ctx = context("alice", &[], &directory);
        let leave = signal("alice", NAME, "leave", t(0), fields("x", 10, 20));
        let cancel = signal("alice", NAME, "leave_cancelled", t(0), json!({"id": "x"}));
        let cancel_other = signal("alice", NAME, "leave_cancelled", t(0), json!({"id": "y"}));
        assert!(source.check_sequence(&ctx, &[&leave, &cancel]).is_ok());
        let refused = source
            .check_sequence(&ctx, &[&leave, &cancel_other])
            .unwrap_err();
        assert_eq!(refused.0, 1);
        assert!(refused.1.message.contains("no leave `y`"), "{}", refused.1);
        assert_eq!(source.state("alice"), None, "checking changes nothing");
    }

    #[test]
    fn r21c_a_long_run_of_touching_leaves_is_one_span_named_in_short() {
        // Twelve touching leaves: blocked until the end of the last, ten named, then "and
        // others"; cancelling one in the middle splits the span there.
        let mut steps: Vec<Step> = (0..12)
            .map(|k| {
                leave(
                    ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"][k],
                    {
                        let from = 100 * (k as i64 + 1);
                        from..from + 100
                    },
                )
            })
            .collect();
        steps.extend([
            Expect(100, "block on_leave until 1300"),
            ReasonHas(
                100,
                "on leave `a`, `b`, `c`, `d`, `e`, `f`, `g`, `h`, `i`, `j` and others from",
            ),
            cancel(150, "f"),
            Expect(150, "block on_leave until 600"),
            Expect(700, "block on_leave until 1300"),
            ReasonHas(700, "on leave `g`, `h`, `i`, `j`, `k`, `l` from"),
        ]);
        HrSource::run(&steps);
    }

    #[test]
    fn r4_an_agent_without_records_is_neither_blocked_nor_granted() {
        HrSource::run(&[Expect(0, "abstain")]);
    }

    #[test]
    fn r4_dismissed_blocks_from_its_instant_until_rehired() {
        HrSource::run(&[
            Send("dismissed", 100),
            Expect(99, "abstain until 100"), // not yet dismissed at 99 s
            Expect(100, "block dismissed"),  // a dismissal never ends by itself
            Reason(100, "dismissed since 2026-01-01 00:01:40"),
            Expect(1_000_000, "block dismissed"),
            Send("rehired", 200),
            Expect(200, "abstain"),
        ]);
    }

    #[test]
    fn r4_dismissing_twice_keeps_the_first_instant_and_rehiring_an_employee_is_harmless() {
        HrSource::run(&[
            Send("rehired", 10),
            Expect(10, "abstain"),
            Send("dismissed", 20),
            Send("dismissed", 30),
            Reason(30, "dismissed since 2026-01-01 00:00:20"),
        ]);
    }

    #[test]
    fn r4_leave_blocks_inside_its_half_open_interval() {
        HrSource::run(&[
            leave("ski", 1000..2000),
            Expect(999, "abstain until 1000"), // the leave's start is announced
            Expect(1000, "block on_leave until 2000"),
            Reason(
                1000,
                "on leave `ski` from 2026-01-01 00:16:40 until 2026-01-01 00:33:20",
            ),
            Expect(1999, "block on_leave until 2000"),
            Expect(2000, "abstain"),
        ]);
    }

    #[test]
    fn r4_overlapping_and_touching_leaves_block_until_the_end_of_their_span() {
        HrSource::run(&[
            leave("a", 1000..2000),
            leave("b", 1500..3000),
            leave("c", 3000..4000),
            leave("d", 5000..6000),
            Expect(1000, "block on_leave until 4000"),
            ReasonHas(1000, "`a`, `b`, `c`"),
            Expect(3999, "block on_leave until 4000"),
            Expect(4000, "abstain until 5000"),
            ReasonHas(4000, "next leave `d`"),
            Expect(5999, "block on_leave until 6000"),
            Expect(6000, "abstain"),
        ]);
    }

    #[test]
    fn r4_a_leave_inside_another_does_not_shorten_it() {
        HrSource::run(&[
            leave("long", 100..1000),
            leave("short", 200..300),
            Expect(250, "block on_leave until 1000"),
            Expect(999, "block on_leave until 1000"),
        ]);
    }

    #[test]
    fn r4_resending_a_leave_id_replaces_it() {
        HrSource::run(&[
            leave("x", 100..200),
            leave_at(10, "x", 500..600),
            Expect(150, "abstain until 500"),
            Expect(500, "block on_leave until 600"),
        ]);
    }

    #[test]
    fn r4_a_cancelled_leave_no_longer_blocks() {
        HrSource::run(&[
            leave("x", 100..200),
            leave("y", 300..400),
            cancel(50, "x"),
            Expect(150, "abstain until 300"),
            cancel(60, "x"),
            Expect(150, "abstain until 300"), // a repeat is harmless
            cancel(350, "y"),
            Expect(350, "abstain"), // cancelled mid-leave
        ]);
    }

    #[test]
    fn r4_a_cancelled_leave_id_can_be_scheduled_again() {
        HrSource::run(&[
            leave("x", 100..200),
            cancel(1, "x"),
            leave_at(2, "x", 100..200),
            Expect(100, "block on_leave until 200"),
        ]);
    }

    #[test]
    fn r4_dismissal_outranks_a_leave() {
        HrSource::run(&[
            leave("x", 0..100),
            Send("dismissed", 10),
            // The leave's end does not end the dismissal.
            Expect(10, "block dismissed"),
            Send("rehired", 20),
            // Still on leave after rehiring.
            Expect(20, "block on_leave until 100"),
        ]);
    }

    #[test]
    fn r4_leave_end_not_after_start_is_refused_naming_to() {
        HrSource::run(&[
            RefusedWith("leave", 0, fields("x", 100, 100), "`to`"),
            RefusedWith("leave", 0, fields("x", 100, 50), "`to`"),
        ]);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        const FROM: &str = "2026-01-01T00:00:00Z";
        const TO: &str = "2026-01-02T00:00:00Z";
        HrSource::run(&[
            leave("x", 100..200),
            RefusedWith("leave", 10, json!({"from": FROM, "to": TO}), "`id`"),
            RefusedWith(
                "leave",
                10,
                json!({"id": "y", "from": "yesterday", "to": TO}),
                "`from`",
            ),
            RefusedWith("leave", 10, json!({"id": "y", "from": FROM}), "`to`"),
            RefusedWith(
                "leave",
                10,
                json!({"id": 7, "from": FROM, "to": TO}),
                "`id`",
            ),
            RefusedWith(
                "leave",
                10,
                json!({"id": "", "from": FROM, "to": TO}),
                "`id`",
            ),
            RefusedWith(
                "leave",
                10,
                json!({"id": "y", "from": FROM, "to": TO, "note": 1}),
                "`note`",
            ),
            RefusedWith("dismissed", 10, json!({"reason": "x"}), "`reason`"),
            RefusedWith("rehired", 10, json!({"id": "x"}), "`id`"),
            RefusedWith("leave_cancelled", 10, json!({}), "`id`"),
            RefusedWith("leave_cancelled", 10, json!({"id": "nope"}), "nope"),
            Refused("fired", 10, "dismissed, rehired, leave, leave_cancelled"),
        ]);
    }

    #[test]
    fn r4_out_of_order_signals_do_not_move_the_state_backwards() {
        HrSource::run(&[
            Send("dismissed", 200),
            Send("rehired", 100),
            Expect(300, "block dismissed"), // late rehire ignored
            leave_at(60, "x", 1000..2000),
            leave_at(50, "x", 5000..6000),
            Expect(1000, "block dismissed"),
            Send("rehired", 300),
            Expect(1000, "block on_leave until 2000"), // older version ignored
            Expect(5000, "abstain"),
            cancel(55, "x"),
            Expect(1000, "block on_leave until 2000"), // stale cancel ignored
            cancel(70, "x"),
            leave_at(65, "x", 1000..2000),
            Expect(1000, "abstain"), // stale leave does not revive
            // Same instant: arrival order.
            Send("dismissed", 300),
            Expect(300, "block dismissed"),
        ]);
    }

    #[test]
    fn r3_hr_never_grants_nor_says_online() {
        let w = HrSource::run(&[leave("x", 100..200), Send("dismissed", 300)]);
        for s in (0..400).step_by(50) {
            let kind = w.at(t(s)).kind;
            assert!(
                matches!(kind, VerdictKind::Block | VerdictKind::Abstain),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn settings_accept_nothing_but_an_empty_table() {
        assert_default_settings(NAME, &HrSettings {});
        assert_settings_refused(NAME, &json!({"grace": "5m"}), "`grace`");
    }

    #[test]
    fn conformance() {
        let mut w = HrSource::run(&[]);
        let leaves = [leave("x", 100..200), leave("y", 200..300)];
        w.assert_conformance_before_and_after(&leaves, t(150));
        w.assert_conformance_before_and_after(&[Send("dismissed", 10)], t(20));
    }

    #[test]
    fn registers_itself_as_hr() {
        assert_registered_source(NAME, EVENTS);
    }

    /// Alice's record in `w`.
    fn record(w: &SourceProbe<TypedSource<HrSource>>) -> &AgentRecord {
        w.source.state("alice").expect("alice has a record")
    }

    /// The ids `w` holds for alice, leaves and tombstones.
    fn held(w: &SourceProbe<TypedSource<HrSource>>) -> Vec<&str> {
        record(w).leaves.keys().map(String::as_str).collect()
    }

    /// Alice's leaves (not cancelled) in the order of their start.
    fn in_start_order(w: &SourceProbe<TypedSource<HrSource>>) -> Vec<&str> {
        record(w)
            .by_start
            .iter()
            .map(|(_, _, id)| id.as_str())
            .collect()
    }

    #[test]
    fn r21c_ended_leaves_are_forgotten_by_the_next_signal() {
        let mut w = HrSource::run(&[
            leave("a", 100..200),
            leave("b", 300..400),
            leave("c", 150..1000),
        ]);
        assert_eq!(record(&w).leave_count(), 3);
        w.play(&[Send("rehired", 199)]);
        assert_eq!(held(&w), ["a", "b", "c"], "`a` ends at 200, not yet");
        w.play(&[Send("rehired", 200)]);
        assert_eq!(held(&w), ["b", "c"], "`a` ended at 200: forgotten");
        assert_eq!(record(&w).leave_count(), 2);
        w.play(&[
            Expect(250, "block on_leave until 1000"),
            Send("dismissed", 1000),
            Send("rehired", 1000),
        ]);
        assert!(held(&w).is_empty(), "{:?}", record(&w));
        assert_eq!(record(&w).leave_count(), 0);
        assert!(record(&w).by_end.is_empty());
        w.play(&[Expect(1000, "abstain")]);
    }

    #[test]
    fn r21c_a_leave_sent_when_it_has_already_ended_is_forgotten_at_once() {
        let w = HrSource::run(&[leave_at(500, "old", 100..200), Expect(500, "abstain")]);
        assert!(held(&w).is_empty());
        assert!(record(&w).forgot_leaves);
    }

    #[test]
    fn r21c_only_leaves_not_ended_are_merged_and_named() {
        HrSource::run(&[
            leave("a", 0..10),
            leave("b", 10..20),
            ReasonHas(5, "on leave `a`, `b` from 2026-01-01 00:00:00 until"),
            // `a` has ended (no signal came to forget it yet): the span is `b`'s.
            Reason(
                15,
                "on leave `b` from 2026-01-01 00:00:10 until 2026-01-01 00:00:20",
            ),
            Expect(15, "block on_leave until 20"),
        ]);
    }

    #[test]
    fn r21c_a_cancelled_leave_is_kept_until_its_period_would_have_ended() {
        let mut w = HrSource::run(&[leave("x", 1000..2000), cancel(10, "x")]);
        assert_eq!(record(&w).leave_count(), 0);
        assert_eq!(held(&w), ["x"], "a tombstone");
        w.play(&[
            leave_at(5, "x", 1000..2000), // older than the cancellation: ignored
            Expect(1000, "abstain"),
            cancel(20, "x"), // a harmless repeat
            Send("rehired", 1999),
        ]);
        assert_eq!(held(&w), ["x"]);
        w.play(&[Send("rehired", 2000)]);
        assert!(held(&w).is_empty(), "the cancelled period has ended");
    }

    #[test]
    fn r21c_an_id_not_held_is_refused_until_a_leave_was_forgotten_then_accepted() {
        let mut w = HrSource::run(&[
            leave("x", 100..200),
            RefusedWith(
                "leave_cancelled",
                10,
                json!({"id": "nope"}),
                "no leave `nope`",
            ),
            Send("rehired", 200),
        ]);
        assert!(held(&w).is_empty());
        // A log written before leaves were forgotten may cancel `x` now: it still replays.
        w.play(&[
            cancel(300, "x"),
            cancel(300, "nope"),
            Expect(300, "abstain"),
        ]);
        assert!(held(&w).is_empty(), "accepted, and changes nothing");
    }

    #[test]
    fn r21c_leaves_are_kept_in_start_order_and_a_replaced_one_moves() {
        let mut w = HrSource::run(&[
            leave("c", 500..600),
            leave("a", 100..200),
            leave("b", 300..400),
        ]);
        assert_eq!(in_start_order(&w), ["a", "b", "c"]);
        w.play(&[
            leave_at(10, "a", 400..500), // now touches `b` and `c`
            Expect(150, "abstain until 300"),
            ReasonHas(150, "next leave `b`, `a`, `c` from"),
            Expect(300, "block on_leave until 600"),
        ]);
        assert_eq!(in_start_order(&w), ["b", "a", "c"]);
        w.play(&[
            cancel(20, "a"),
            Expect(400, "abstain until 500"),
            cancel(30, "b"),
        ]);
        assert_eq!(in_start_order(&w), ["c"]);
        assert_eq!(held(&w), ["a", "b", "c"], "two tombstones");
    }

    #[test]
    fn r21c_a_snapshot_round_trip_gives_an_equal_state_and_the_same_verdicts() {
        let mut w = HrSource::run(&[
            leave("ended", 10..20),
            leave("running", 0..1000),
            leave("future", 2000..3000),
            leave("cancelled", 4000..5000),
            cancel(30, "cancelled"),
            Send("dismissed", 40),
            Send("rehired", 50),
            leave_at(60, "later", 1000..1500),
        ]);
        let snapshot = w.source.snapshot();
        let json = snapshot.to_string();
        assert!(
            !json.contains("by_start") && !json.contains("by_end"),
            "{json}"
        );
        let mut restored = TypedSource::new(NAME, HrSource);
        restored.restore(snapshot).unwrap();
        assert_eq!(restored, w.source);
        let ctx = context("alice", &[], &w.directory);
        for at in [60, 999, 1000, 1499, 1500, 2000, 3000, 4000, 6000] {
            assert_eq!(restored.verdict(&ctx, t(at)), w.source.verdict(&ctx, t(at)));
        }
        // And it goes on the same way.
        let next = signal(
            "alice",
            NAME,
            "leave_cancelled",
            t(2500),
            json!({"id": "future"}),
        );
        restored.ingest(&ctx, &next).unwrap();
        w.source.ingest(&ctx, &next).unwrap();
        assert_eq!(restored, w.source);
        assert_eq!(
            held(&w),
            ["cancelled", "future"],
            "two tombstones until 3000 and 5000"
        );
    }

    /// One step of a random history, instants in seconds after `t(0)`.
    #[derive(Debug, Clone)]
    enum Op {
        Dismissed(i64),
        Rehired(i64),
        Leave(i64, &'static str, i64, i64),
        Cancel(i64, &'static str),
    }

    impl Op {
        fn at(&self) -> i64 {
            match self {
                Op::Dismissed(at) | Op::Rehired(at) | Op::Leave(at, ..) | Op::Cancel(at, _) => *at,
            }
        }

        fn signal(&self) -> Signal {
            let (event, fields) = match self {
                Op::Dismissed(_) => ("dismissed", Value::Null),
                Op::Rehired(_) => ("rehired", Value::Null),
                Op::Leave(_, id, from, to) => ("leave", fields(id, *from, *to)),
                Op::Cancel(_, id) => ("leave_cancelled", json!({"id": id})),
            };
            signal("alice", NAME, event, t(self.at()), fields)
        }
    }

    /// A plain model of the record: every leave in a `Vec`, scanned, sorted and merged
    /// afresh for each verdict. With `forget`, it forgets as the crate docs say; without,
    /// it keeps everything, as `hr` did before SPEC R21c.
    #[derive(Debug, Default)]
    struct Model {
        forget: bool,
        dismissed_since: Option<i64>,
        status_at: Option<i64>,
        horizon: Option<i64>,
        forgot: bool,
        /// `(id, changed_at, from, to, cancelled)`.
        leaves: Vec<(&'static str, i64, i64, i64, bool)>,
    }

    impl Model {
        /// Applies `op`; `false` if it is refused.
        fn apply(&mut self, op: &Op) -> bool {
            let at = op.at();
            let position = |id: &str| self.leaves.iter().position(|l| l.0 == id);
            match *op {
                Op::Dismissed(_) | Op::Rehired(_) if self.status_at.is_some_and(|s| at < s) => {}
                Op::Dismissed(_) => {
                    self.dismissed_since.get_or_insert(at);
                    self.status_at = Some(at);
                }
                Op::Rehired(_) => {
                    self.dismissed_since = None;
                    self.status_at = Some(at);
                }
                Op::Leave(_, id, from, to) => match position(id) {
                    Some(i) if at < self.leaves[i].1 => {}
                    Some(i) => self.leaves[i] = (id, at, from, to, false),
                    None => self.leaves.push((id, at, from, to, false)),
                },
                Op::Cancel(_, id) => match position(id) {
                    None if self.forgot => {}
                    None => return false,
                    Some(i) if at < self.leaves[i].1 => {}
                    Some(i) => {
                        self.leaves[i].1 = at;
                        self.leaves[i].4 = true;
                    }
                },
            }
            let horizon = self.horizon.map_or(at, |h| h.max(at));
            self.horizon = Some(horizon);
            if self.forget {
                let before = self.leaves.len();
                self.leaves.retain(|l| l.3 > horizon);
                self.forgot |= self.leaves.len() < before;
            }
            true
        }

        fn live(&self) -> usize {
            self.leaves.iter().filter(|l| !l.4).count()
        }

        /// The verdict at `now`, computed the way `hr` did before SPEC R21c, over the leaves
        /// not ended by `now`.
        fn verdict(&self, now: i64) -> Verdict {
            if let Some(since) = self.dismissed_since.filter(|since| *since <= now) {
                return Verdict::block(DISMISSED, format!("dismissed since {}", stamp(t(since))));
            }
            let mut periods: Vec<(i64, i64, &str)> = self
                .leaves
                .iter()
                .filter(|l| !l.4 && l.3 > now)
                .map(|l| (l.2, l.3, l.0))
                .collect();
            periods.sort_unstable();
            let mut spans: Vec<(i64, i64, Vec<&str>)> = Vec::new();
            for (from, to, id) in periods {
                match spans.last_mut() {
                    Some((_, end, ids)) if from <= *end => {
                        *end = (*end).max(to);
                        ids.push(id);
                    }
                    _ => spans.push((from, to, vec![id])),
                }
            }
            let mut verdict = match spans.first() {
                None => Verdict::abstain("not on leave, none scheduled"),
                Some((start, _, ids)) if now < *start => Verdict::abstain(format!(
                    "not on leave; next leave `{}` from {}",
                    ids.join("`, `"),
                    stamp(t(*start))
                ))
                .until(t(*start)),
                Some((start, end, ids)) => Verdict::block(
                    ON_LEAVE,
                    format!(
                        "on leave `{}` from {} until {}",
                        ids.join("`, `"),
                        stamp(t(*start)),
                        stamp(t(*end))
                    ),
                )
                .until(t(*end)),
            };
            verdict.until = earliest(verdict.until, self.dismissed_since.map(t));
            verdict
        }
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        // Leaves use `a`..`d`; cancellations also `e`, which is never scheduled.
        let leave_id = proptest::sample::select(vec!["a", "b", "c", "d"]);
        let cancel_id = proptest::sample::select(vec!["a", "b", "c", "d", "e"]);
        prop_oneof![
            1 => (0..60i64).prop_map(Op::Dismissed),
            1 => (0..60i64).prop_map(Op::Rehired),
            5 => (0..60i64, leave_id, 0..100i64, 1..40i64)
                .prop_map(|(at, id, from, len)| Op::Leave(at, id, from, from + len)),
            2 => (0..60i64, cancel_id).prop_map(|(at, id)| Op::Cancel(at, id)),
        ]
    }

    proptest::proptest! {
        /// SPEC R21c: over random histories (in any order), the indexed record accepts and
        /// refuses what the plain model does, holds the same leaves, gives the same verdicts
        /// at every instant from its horizon on, changes in place as `apply` would copy, and
        /// survives a JSON round trip. Signals the pre-R21c `hr` accepted are all accepted
        /// (a command log replays); sent in order, they give its verdicts too.
        #[test]
        fn r21c_the_indexed_record_matches_a_scanned_model(
            mut ops in proptest::collection::vec(op(), 1..40),
            in_order: bool,
            queries in proptest::collection::vec(0..120i64, 1..6),
        ) {
            if in_order {
                ops.sort_by_key(Op::at);
            }
            let directory = GroupDirectory::new();
            let ctx = context("alice", &[], &directory);
            let mut source = TypedSource::new(NAME, HrSource);
            let mut model = Model { forget: true, ..Model::default() };
            let mut before_r21c = Model::default();
            let mut latest = 0;
            for op in &ops {
                let signal = op.signal();
                latest = latest.max(op.at());
                let state = source.state("alice").cloned();
                let copied = HrSource.apply(state.as_ref(), &ctx, &signal);
                let checked = source.check(&ctx, &signal);
                let ingested = source.ingest(&ctx, &signal);
                proptest::prop_assert_eq!(&checked, &ingested);
                proptest::prop_assert_eq!(ingested.is_ok(), model.apply(op), "{:?}", op);
                match copied {
                    Ok(copy) => proptest::prop_assert_eq!(Some(&copy), source.state("alice")),
                    Err(_) => proptest::prop_assert_eq!(state.as_ref(), source.state("alice")),
                }
                if before_r21c.apply(op) {
                    proptest::prop_assert!(ingested.is_ok(), "{:?} was accepted before", op);
                }
                let Some(record) = source.state("alice") else { continue };
                proptest::prop_assert_eq!(record.leave_count(), model.live());
                proptest::prop_assert_eq!(record.leaves.len(), model.leaves.len());
                let json = serde_json::to_value(record).unwrap();
                let read: AgentRecord = serde_json::from_value(json).unwrap();
                proptest::prop_assert_eq!(&read, record);
                for offset in &queries {
                    let now = latest + offset;
                    let verdict = source.verdict(&ctx, t(now));
                    proptest::prop_assert_eq!(&verdict, &model.verdict(now), "at {}", now);
                    proptest::prop_assert_eq!(&verdict, &read.verdict(t(now)));
                    if in_order {
                        proptest::prop_assert_eq!(&verdict, &before_r21c.verdict(now));
                    }
                }
            }
        }
    }

    impl UnderTest for HrSource {
        const NAME: &'static str = NAME;
    }

    /// The fields of a `leave` signal for leave `id` from `from` to `to` (seconds after `t(0)`).
    fn fields(id: &str, from: i64, to: i64) -> Value {
        json!({"id": id, "from": t(from).to_rfc3339(), "to": t(to).to_rfc3339()})
    }

    /// A `leave` signal sent at `t(0)` for leave `id` over `period` (seconds after `t(0)`).
    fn leave(id: &'static str, period: Range<i64>) -> Step {
        leave_at(0, id, period)
    }

    /// A `leave` signal sent at `at` for leave `id` over `period`.
    fn leave_at(at: i64, id: &'static str, period: Range<i64>) -> Step {
        Step::SendWith("leave", at, fields(id, period.start, period.end))
    }

    /// A `leave_cancelled` signal sent at `at` for leave `id`.
    fn cancel(at: i64, id: &'static str) -> Step {
        Step::SendWith("leave_cancelled", at, json!({"id": id}))
    }
}
