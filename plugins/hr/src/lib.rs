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
//! - `leave_cancelled` with `id` — removes the leave; an `id` never seen is refused,
//!   cancelling an already cancelled leave is a harmless repeat.
//!
//! ## Settings (`[plugins.hr]`)
//! None: the table must be absent or empty (any key is refused).
//!
//! ## Boundaries
//! A leave `[from, to)`: at `from - 1s` the verdict is `abstain` with `until = from`; from
//! `from` to `to - 1s` it is `block` with `until` = the end of the contiguous blocked span
//! (overlapping or touching leaves merge); at `to` it is no longer blocked. A dismissal
//! dominates any leave and never ends by itself (`until = None`).
//!
//! ## Out-of-order signals
//! Dismissal state and each leave id keep the instant of the last signal applied to them.
//! A signal older than that (e.g. a `rehired` at 09:00 arriving after a `dismissed` at
//! 10:00, or a stale version of leave `x`) is validated, accepted and ignored: it never moves
//! the state backwards. Signals at the same instant apply in arrival order.
//!
//! Verdicts describe the state after the last signal ingested, asked about instants at or
//! after it (the engine never asks about the past).

use std::collections::BTreeMap;

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

/// Everything HR said about one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Dismissed since this instant (`None` = employed).
    dismissed_since: Option<Timestamp>,
    /// Instant of the last `dismissed`/`rehired` applied.
    status_at: Option<Timestamp>,
    /// Leaves by id, cancelled ones kept as tombstones so a late older version stays ignored.
    leaves: BTreeMap<String, LeaveRecord>,
}

/// One leave id's latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LeaveRecord {
    /// Instant of the last signal applied to this id.
    changed_at: Timestamp,
    /// `[from, to)`, or `None` once cancelled.
    period: Option<(Timestamp, Timestamp)>,
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
    /// ignored because it is older than what it would replace.
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
            Change::Cancel { id } => {
                let Some(leave) = record.and_then(|r| r.leaves.get(id)) else {
                    return Err(SignalError::new(format!(
                        "field `id`: no leave `{id}` is known for agent `{agent}`"
                    )));
                };
                Some(leave.changed_at)
            }
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
    /// Records `change`, planned from a signal at `at` (see [`HrSource::plan`]).
    fn change(&mut self, change: Change, at: Timestamp) {
        match change {
            Change::Dismissed => {
                self.dismissed_since.get_or_insert(at);
                self.status_at = Some(at);
            }
            Change::Rehired => {
                self.dismissed_since = None;
                self.status_at = Some(at);
            }
            Change::Leave { id, from, to } => {
                let period = Some((from, to));
                let leave = LeaveRecord {
                    changed_at: at,
                    period,
                };
                self.leaves.insert(id, leave);
            }
            Change::Cancel { id } => {
                let leave = LeaveRecord {
                    changed_at: at,
                    period: None,
                };
                self.leaves.insert(id, leave);
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
    /// containing `now`, else abstain until the next leave starts.
    fn leave_verdict(&self, now: Timestamp) -> Verdict {
        let mut periods: Vec<(Timestamp, Timestamp, &str)> = self
            .leaves
            .iter()
            .filter_map(|(id, l)| l.period.map(|(from, to)| (from, to, id.as_str())))
            .collect();
        periods.sort_unstable();
        let mut spans: Vec<(Timestamp, Timestamp, Vec<&str>)> = Vec::new();
        for (from, to, id) in periods {
            match spans.last_mut() {
                Some((_, end, ids)) if from <= *end => {
                    *end = (*end).max(to);
                    ids.push(id);
                }
                _ => spans.push((from, to, vec![id])),
            }
        }
        for (start, end, ids) in spans {
            if now < start {
                return Verdict::abstain(format!(
                    "not on leave; next leave `{}` from {}",
                    ids.join("`, `"),
                    stamp(start)
                ))
                .until(start);
            }
            if now < end {
                return Verdict::block(
                    ON_LEAVE,
                    format!(
                        "on leave `{}` from {} until {}",
                        ids.join("`, `"),
                        stamp(start),
                        stamp(end)
                    ),
                )
                .until(end);
            }
        }
        Verdict::abstain("not on leave, none scheduled")
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
    /// in order to scratch copies of the agent's record.
    fn apply(
        &self,
        record: Option<&AgentRecord>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<AgentRecord, SignalError> {
        let change = Self::plan(record, agent.id, signal)?;
        let mut record = record.cloned().unwrap_or_default();
        if let Some(change) = change {
            record.change(change, signal.at);
        }
        Ok(record)
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
    use openline_core::test_util::{Step, UnderTest, assert_default_settings, context, signal, t};
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
