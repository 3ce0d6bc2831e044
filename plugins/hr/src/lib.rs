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

    fn reason_codes(&self) -> &[ReasonCode] {
        REASON_CODES
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
        match change {
            None => {}
            Some(Change::Dismissed) => {
                record.dismissed_since.get_or_insert(signal.at);
                record.status_at = Some(signal.at);
            }
            Some(Change::Rehired) => {
                record.dismissed_since = None;
                record.status_at = Some(signal.at);
            }
            Some(Change::Leave { id, from, to }) => {
                let period = Some((from, to));
                let leave = LeaveRecord {
                    changed_at: signal.at,
                    period,
                };
                record.leaves.insert(id, leave);
            }
            Some(Change::Cancel { id }) => {
                let leave = LeaveRecord {
                    changed_at: signal.at,
                    period: None,
                };
                record.leaves.insert(id, leave);
            }
        }
        Ok(record)
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
        let dismissal = record.dismissed_since;
        if let Some(since) = dismissal.filter(|since| *since <= now) {
            return Verdict::block(DISMISSED, format!("dismissed since {}", stamp(since)));
        }
        let mut verdict = record.leave_verdict(now);
        // A dismissal recorded for a later instant than `now` changes the verdict then.
        verdict.until = earliest(verdict.until, dismissal);
        verdict
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

    use openline_core::model::GroupDirectory;
    use openline_core::test_util::{SourceProbe, assert_source_conformance, context, signal, t};
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
        let fields = json!({"id": "x", "from": t(10).to_rfc3339(), "to": t(20).to_rfc3339()});
        let leave = signal("alice", NAME, "leave", t(0), fields);
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

    /// One agent, `alice`, and an `hr` source.
    fn world() -> SourceProbe<TypedSource<HrSource>> {
        SourceProbe::typed(NAME, &Value::Null)
    }

    fn leave(id: &str, from: Timestamp, to: Timestamp) -> Value {
        json!({"id": id, "from": from.to_rfc3339(), "to": to.to_rfc3339()})
    }

    #[test]
    fn r4_an_agent_without_records_is_neither_blocked_nor_granted() {
        let w = world();
        let v = w.at(t(0));
        assert_eq!(
            (v.kind, v.until, v.code),
            (VerdictKind::Abstain, None, None)
        );
    }

    #[test]
    fn r4_dismissed_blocks_from_its_instant_until_rehired() {
        let mut w = world();
        w.ok("dismissed", t(100));
        let v = w.at(t(99));
        assert_eq!(v.kind, VerdictKind::Abstain, "not yet dismissed at 99 s");
        assert_eq!(v.until, Some(t(100)));
        let v = w.at(t(100));
        assert_eq!(v.kind, VerdictKind::Block);
        assert_eq!(v.code, Some(DISMISSED));
        assert_eq!(v.until, None, "a dismissal never ends by itself");
        assert_eq!(v.reason, "dismissed since 2026-01-01 00:01:40");
        assert_eq!(w.at(t(1_000_000)).kind, VerdictKind::Block);
        w.ok("rehired", t(200));
        let v = w.at(t(200));
        assert_eq!((v.kind, v.until), (VerdictKind::Abstain, None));
    }

    #[test]
    fn r4_dismissing_twice_keeps_the_first_instant_and_rehiring_an_employee_is_harmless() {
        let mut w = world();
        w.ok("rehired", t(10));
        assert_eq!(w.at(t(10)).kind, VerdictKind::Abstain);
        w.ok("dismissed", t(20));
        w.ok("dismissed", t(30));
        assert_eq!(w.at(t(30)).reason, "dismissed since 2026-01-01 00:00:20");
    }

    #[test]
    fn r4_leave_blocks_inside_its_half_open_interval() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("ski", t(1000), t(2000)));
        let v = w.at(t(999));
        assert_eq!(v.kind, VerdictKind::Abstain);
        assert_eq!(v.until, Some(t(1000)), "the leave's start is announced");
        let v = w.at(t(1000));
        assert_eq!(v.kind, VerdictKind::Block);
        assert_eq!(v.code, Some(ON_LEAVE));
        assert_eq!(v.until, Some(t(2000)));
        assert_eq!(
            v.reason,
            "on leave `ski` from 2026-01-01 00:16:40 until 2026-01-01 00:33:20"
        );
        let v = w.at(t(1999));
        assert_eq!((v.kind, v.until), (VerdictKind::Block, Some(t(2000))));
        let v = w.at(t(2000));
        assert_eq!((v.kind, v.until), (VerdictKind::Abstain, None));
    }

    #[test]
    fn r4_overlapping_and_touching_leaves_block_until_the_end_of_their_span() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("a", t(1000), t(2000)));
        w.ok_with("leave", t(0), leave("b", t(1500), t(3000)));
        w.ok_with("leave", t(0), leave("c", t(3000), t(4000)));
        w.ok_with("leave", t(0), leave("d", t(5000), t(6000)));
        let v = w.at(t(1000));
        assert_eq!((v.kind, v.until), (VerdictKind::Block, Some(t(4000))));
        assert!(v.reason.contains("`a`, `b`, `c`"), "{}", v.reason);
        assert_eq!(w.at(t(3999)).kind, VerdictKind::Block);
        let v = w.at(t(4000));
        assert_eq!((v.kind, v.until), (VerdictKind::Abstain, Some(t(5000))));
        assert!(v.reason.contains("next leave `d`"), "{}", v.reason);
        let v = w.at(t(5999));
        assert_eq!((v.kind, v.until), (VerdictKind::Block, Some(t(6000))));
        assert_eq!(w.at(t(6000)).kind, VerdictKind::Abstain);
    }

    #[test]
    fn r4_a_leave_inside_another_does_not_shorten_it() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("long", t(100), t(1000)));
        w.ok_with("leave", t(0), leave("short", t(200), t(300)));
        assert_eq!(w.at(t(250)).until, Some(t(1000)));
        assert_eq!(w.at(t(999)).kind, VerdictKind::Block);
    }

    #[test]
    fn r4_resending_a_leave_id_replaces_it() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        w.ok_with("leave", t(10), leave("x", t(500), t(600)));
        assert_eq!(w.at(t(150)).kind, VerdictKind::Abstain);
        assert_eq!(w.at(t(150)).until, Some(t(500)));
        assert_eq!(w.at(t(500)).kind, VerdictKind::Block);
    }

    #[test]
    fn r4_a_cancelled_leave_no_longer_blocks() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        w.ok_with("leave", t(0), leave("y", t(300), t(400)));
        w.ok_with("leave_cancelled", t(50), json!({"id": "x"}));
        let v = w.at(t(150));
        assert_eq!((v.kind, v.until), (VerdictKind::Abstain, Some(t(300))));
        w.ok_with("leave_cancelled", t(60), json!({"id": "x"}));
        assert_eq!(
            w.at(t(150)).kind,
            VerdictKind::Abstain,
            "a repeat is harmless"
        );
        w.ok_with("leave_cancelled", t(350), json!({"id": "y"}));
        assert_eq!(
            w.at(t(350)).kind,
            VerdictKind::Abstain,
            "cancelled mid-leave"
        );
    }

    #[test]
    fn r4_a_cancelled_leave_id_can_be_scheduled_again() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        w.ok_with("leave_cancelled", t(1), json!({"id": "x"}));
        w.ok_with("leave", t(2), leave("x", t(100), t(200)));
        assert_eq!(w.at(t(100)).kind, VerdictKind::Block);
    }

    #[test]
    fn r4_dismissal_outranks_a_leave() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(0), t(100)));
        w.ok("dismissed", t(10));
        let v = w.at(t(10));
        assert_eq!(v.code, Some(DISMISSED));
        assert_eq!(v.until, None, "the leave's end does not end the dismissal");
        w.ok("rehired", t(20));
        let v = w.at(t(20));
        assert_eq!(v.code, Some(ON_LEAVE), "still on leave after rehiring");
        assert_eq!(v.until, Some(t(100)));
    }

    #[test]
    fn r4_leave_end_not_after_start_is_refused_naming_to() {
        let mut w = world();
        let err = w.refused("leave", t(0), leave("x", t(100), t(100)));
        assert!(err.contains("`to`"), "{err}");
        let err = w.refused("leave", t(0), leave("x", t(100), t(50)));
        assert!(err.contains("`to`"), "{err}");
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        const FROM: &str = "2026-01-01T00:00:00Z";
        const TO: &str = "2026-01-02T00:00:00Z";
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        let cases = [
            ("leave", json!({"from": FROM, "to": TO}), "`id`"),
            (
                "leave",
                json!({"id": "y", "from": "yesterday", "to": TO}),
                "`from`",
            ),
            ("leave", json!({"id": "y", "from": FROM}), "`to`"),
            ("leave", json!({"id": 7, "from": FROM, "to": TO}), "`id`"),
            ("leave", json!({"id": "", "from": FROM, "to": TO}), "`id`"),
            (
                "leave",
                json!({"id": "y", "from": FROM, "to": TO, "note": 1}),
                "`note`",
            ),
            ("dismissed", json!({"reason": "x"}), "`reason`"),
            ("rehired", json!({"id": "x"}), "`id`"),
            ("leave_cancelled", json!({}), "`id`"),
            ("leave_cancelled", json!({"id": "nope"}), "nope"),
            (
                "fired",
                Value::Null,
                "dismissed, rehired, leave, leave_cancelled",
            ),
        ];
        for (event, fields, needle) in cases {
            let err = w.refused(event, t(10), fields);
            assert!(
                err.contains(needle),
                "{event}: `{err}` should name {needle}"
            );
        }
    }

    #[test]
    fn r4_out_of_order_signals_do_not_move_the_state_backwards() {
        let mut w = world();
        w.ok("dismissed", t(200));
        w.ok("rehired", t(100));
        assert_eq!(w.at(t(300)).code, Some(DISMISSED), "late rehire ignored");

        w.ok_with("leave", t(60), leave("x", t(1000), t(2000)));
        w.ok_with("leave", t(50), leave("x", t(5000), t(6000)));
        assert_eq!(w.at(t(1000)).code, Some(DISMISSED));
        w.ok("rehired", t(300));
        assert_eq!(w.at(t(1000)).code, Some(ON_LEAVE), "older version ignored");
        assert_eq!(w.at(t(5000)).kind, VerdictKind::Abstain);

        w.ok_with("leave_cancelled", t(55), json!({"id": "x"}));
        assert_eq!(
            w.at(t(1000)).kind,
            VerdictKind::Block,
            "stale cancel ignored"
        );
        w.ok_with("leave_cancelled", t(70), json!({"id": "x"}));
        w.ok_with("leave", t(65), leave("x", t(1000), t(2000)));
        assert_eq!(
            w.at(t(1000)).kind,
            VerdictKind::Abstain,
            "stale leave does not revive"
        );
    }

    #[test]
    fn r3_hr_never_grants_nor_says_online() {
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        w.ok("dismissed", t(300));
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
        assert!(TypedSource::<HrSource>::from_settings(NAME, &Value::Null).is_ok());
        assert!(TypedSource::<HrSource>::from_settings(NAME, &json!({})).is_ok());
        assert_settings_refused(NAME, &json!({"grace": "5m"}), "`grace`");
    }

    #[test]
    fn conformance() {
        let mut hr = TypedSource::<HrSource>::from_settings(NAME, &Value::Null).unwrap();
        assert_source_conformance(&mut hr, t(0));
        let mut w = world();
        w.ok_with("leave", t(0), leave("x", t(100), t(200)));
        w.ok_with("leave", t(0), leave("y", t(200), t(300)));
        assert_source_conformance(&mut w.source, t(150));
        w.ok("dismissed", t(10));
        assert_source_conformance(&mut w.source, t(20));
    }

    #[test]
    fn registers_itself_as_hr() {
        assert_registered_source(NAME, EVENTS);
    }
}
