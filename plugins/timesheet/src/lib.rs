//! # openline-timesheet — the `timesheet` availability source (SPEC R5)
//!
//! Working Time management (WTM): when it applies to an agent, the timesheet decides —
//! clocked in and not on a break **grants** availability whatever the client apps say;
//! anything else **blocks** it (code `not_working`). When WTM does not apply to the agent the
//! source **abstains**.
//!
//! ## Events (`"source": "timesheet"`, no extra fields)
//! | event | from `clocked out` | from `working` | from `on a break` |
//! |---|---|---|---|
//! | `clock_in` | → working | repeat (no change) | refused: resume first |
//! | `pause` | refused | → on a break | repeat (no change) |
//! | `resume` | refused | repeat (no change) | → working |
//! | `clock_out` | repeat (no change) | → clocked out | → clocked out |
//!
//! An event that leads to the state the agent is already in is a harmless repeat (a retried
//! request); one that makes no sense from the current state is refused with a message
//! naming that state, and changes nothing.
//!
//! ## Settings (`[plugins.timesheet]`)
//! - `groups` (list of group names, default: absent) — absent: WTM applies to every agent;
//!   present: only to agents in at least one of these groups (an empty list: to nobody).
//!   Group membership is read at each verdict, so moving an agent between groups takes
//!   effect at the next evaluation.
//! - `self_service` (bool, default `true`) — whether an agent's own credential may report
//!   its timesheet events (employees start and end their own working day, SPEC R35d);
//!   `false`: only integrations and admins may.
//!
//! ## Boundaries
//! None: a timesheet verdict never changes by itself (`until` is always `None`); only a
//! signal or a change of the agent's groups changes it.
//!
//! ## Out-of-order signals
//! The source keeps, per agent, the instant of the last signal applied. A signal older than
//! that is validated (event and fields), accepted and ignored — it never moves the state
//! backwards, and no transition check applies to it. Signals at the same instant apply in
//! arrival order.

use openline_core::model::ReasonCode;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "timesheet";

/// The events the `timesheet` source accepts.
pub const EVENTS: &[&str] = &["clock_in", "pause", "resume", "clock_out"];

/// `[plugins.timesheet]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimesheetSettings {
    /// The groups WTM applies to; `None` (the default) = every agent.
    #[serde(default, deserialize_with = "groups_setting")]
    pub groups: Option<Vec<String>>,
    /// Whether an agent's own credential may report its timesheet events (default: yes).
    #[serde(default = "self_service_default")]
    pub self_service: bool,
}

impl Default for TimesheetSettings {
    fn default() -> Self {
        Self {
            groups: None,
            self_service: self_service_default(),
        }
    }
}

/// Employees start their own working day unless the settings say otherwise (SPEC R35d).
fn self_service_default() -> bool {
    true
}

/// Deserializes `groups`, naming the key in any error.
fn groups_setting<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Option::<Vec<String>>::deserialize(deserializer)
        .map_err(|e| serde::de::Error::custom(format!("`groups`: {e}")))
}

/// The `timesheet` source: working state (SPEC R5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimesheetSource {
    settings: TimesheetSettings,
}

/// The reason code of every `block` this source gives: not clocked in, or on a break.
pub const NOT_WORKING: ReasonCode = ReasonCode::from_static("not_working");
/// Every reason code this source's blocks carry.
const REASON_CODES: &[ReasonCode] = &[NOT_WORKING];

/// One agent's timesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sheet {
    state: Shift,
    /// Instant of the last signal applied (repeats included).
    last_at: Timestamp,
}

/// Where an agent's working day stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Shift {
    /// Clocked out at this instant.
    Out(Timestamp),
    /// Working (clocked in or resumed) since this instant.
    Working(Timestamp),
    /// On a break since this instant.
    Paused(Timestamp),
}

impl Shift {
    /// The state for humans, as used in refusals.
    fn describe(self) -> String {
        match self {
            Self::Out(at) => format!("clocked out since {}", clock_time(at)),
            Self::Working(at) => format!("working since {}", clock_time(at)),
            Self::Paused(at) => format!("on a break since {}", clock_time(at)),
        }
    }
}

impl TimesheetSource {
    /// Whether WTM applies to an agent in `groups`.
    fn applies(&self, groups: &[String]) -> bool {
        self.settings
            .groups
            .as_ref()
            .is_none_or(|wtm| groups.iter().any(|g| wtm.contains(g)))
    }

    /// The sheet after `signal` (the same sheet when the signal is stale); an error when it
    /// makes no sense from the current state.
    fn plan(
        &self,
        sheet: Option<&Sheet>,
        agent: &str,
        signal: &Signal,
    ) -> Result<Sheet, SignalError> {
        signal.only_fields(&[])?;
        if let Some(sheet) = sheet.filter(|s| signal.at < s.last_at) {
            return Ok(*sheet);
        }
        let at = signal.at;
        let current = sheet.map(|s| s.state);
        let refuse = |why: String| {
            Err(SignalError::new(format!(
                "cannot `{}` agent `{agent}`: {why}",
                signal.event
            )))
        };
        let next = match (signal.event.as_str(), current) {
            ("clock_in", None | Some(Shift::Out(_))) => Shift::Working(at),
            ("clock_in", Some(working @ Shift::Working(_))) => working,
            ("clock_in", Some(paused @ Shift::Paused(_))) => {
                return refuse(format!("{}; send `resume`", paused.describe()));
            }
            ("pause", Some(Shift::Working(_))) => Shift::Paused(at),
            ("pause", Some(paused @ Shift::Paused(_))) => paused,
            ("resume", Some(Shift::Paused(_))) => Shift::Working(at),
            ("resume", Some(working @ Shift::Working(_))) => working,
            ("pause" | "resume", None) => return refuse("not clocked in".to_owned()),
            ("pause" | "resume", Some(out @ Shift::Out(_))) => {
                return refuse(format!("not clocked in ({})", out.describe()));
            }
            ("clock_out", None) => Shift::Out(at),
            ("clock_out", Some(out @ Shift::Out(_))) => out,
            ("clock_out", Some(_)) => Shift::Out(at),
            (other, _) => return Err(SignalError::unknown_event(NAME, other, EVENTS)),
        };
        Ok(Sheet {
            state: next,
            last_at: at,
        })
    }
}

impl Source for TimesheetSource {
    type Settings = TimesheetSettings;
    type State = Sheet;
    const EVENTS: &'static [&'static str] = EVENTS;

    fn reason_codes(&self) -> &[ReasonCode] {
        REASON_CODES
    }

    /// Every event while `self_service` is on, none otherwise (SPEC R35d).
    fn agent_may_report(&self, _event: &str) -> bool {
        self.settings.self_service
    }

    fn new(settings: TimesheetSettings) -> Self {
        Self { settings }
    }

    fn verdict(&self, sheet: Option<&Sheet>, agent: &AgentContext<'_>, _now: Timestamp) -> Verdict {
        if !self.applies(agent.groups) {
            let groups = self.settings.groups.as_deref().unwrap_or_default();
            return Verdict::abstain(format!(
                "Working Time management does not apply (not in any of the groups: {})",
                groups.join(", ")
            ));
        }
        match sheet.map(|s| s.state) {
            None => Verdict::block(NOT_WORKING, "not clocked in"),
            Some(Shift::Out(at)) => Verdict::block(
                NOT_WORKING,
                format!("not clocked in (clocked out at {})", clock_time(at)),
            ),
            Some(Shift::Paused(at)) => {
                Verdict::block(NOT_WORKING, format!("on a break since {}", clock_time(at)))
            }
            Some(Shift::Working(at)) => {
                Verdict::grant(format!("clocked in, working since {}", clock_time(at)))
            }
        }
    }

    /// Transitions depend on earlier signals (`[clock_in, pause]` is fine from clocked out):
    /// a batch is applied in order to scratch copies by the generic part.
    fn apply(
        &self,
        sheet: Option<&Sheet>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Sheet, SignalError> {
        self.plan(sheet, agent.id, signal)
    }
}

openline_core::register_source! {
    TimesheetSource,
    name: NAME,
    summary: "Working Time management: clocked in grants, not working blocks",
    can_make_available: true,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::model::GroupDirectory;
    use openline_core::test_util::Step::{Expect, Reason, ReasonHas, Refused, RefusedWith, Send};
    use openline_core::test_util::{UnderTest, assert_registered_source, assert_settings_refused};
    use openline_core::test_util::{assert_default_settings, signal, t};
    use openline_core::test_util::{assert_source_conformance, context};
    use serde_json::{Value, json};

    use super::*;
    use openline_core::registry;
    use openline_core::source::AvailabilitySource;
    use openline_core::typed::TypedSource;

    impl UnderTest for TimesheetSource {
        const NAME: &'static str = NAME;
    }

    #[test]
    fn r20_a_sequence_is_checked_as_if_applied_in_order() {
        let source = TypedSource::new(NAME, TimesheetSource::default());
        let directory = GroupDirectory::new();
        let ctx = context("alice", &[], &directory);
        let clock_in = signal("alice", NAME, "clock_in", t(0), Value::Null);
        let pause = signal("alice", NAME, "pause", t(1), Value::Null);
        let resume = signal("alice", NAME, "resume", t(4), Value::Null);
        let clock_out = signal("alice", NAME, "clock_out", t(3), Value::Null);
        assert!(source.check_sequence(&ctx, &[&clock_in, &pause]).is_ok());
        let refused = source
            .check_sequence(&ctx, &[&clock_in, &clock_out, &resume])
            .unwrap_err();
        assert_eq!(
            refused.0, 2,
            "the resume after clock_out is the one refused"
        );
        assert_eq!(source.state("alice"), None, "checking changes nothing");
    }

    #[test]
    fn r5_an_agent_who_never_clocked_in_is_blocked_as_not_working() {
        TimesheetSource::run(&[Expect(0, "block not_working"), Reason(0, "not clocked in")]);
    }

    #[test]
    fn r5_clock_in_grants_until_clock_out() {
        TimesheetSource::run(&[
            Send("clock_in", 60),
            Expect(60, "grant"),
            Reason(60, "clocked in, working since 00:01:00"),
            Expect(1_000_000, "grant"), // never ends by itself
            Send("clock_out", 120),
            Expect(120, "block not_working"),
            Reason(120, "not clocked in (clocked out at 00:02:00)"),
        ]);
    }

    #[test]
    fn r5_a_break_blocks_and_resume_grants_again() {
        TimesheetSource::run(&[
            Send("clock_in", 0),
            Send("pause", 600),
            Expect(600, "block not_working"),
            Reason(600, "on a break since 00:10:00"),
            Send("resume", 900),
            Reason(900, "clocked in, working since 00:15:00"),
            Expect(900, "grant"),
            Send("pause", 1000),
            Send("clock_out", 1100),
            Expect(1100, "block not_working"),
        ]);
    }

    #[test]
    fn r5_wtm_applies_to_everyone_without_a_groups_setting() {
        let mut w = TimesheetSource::world(json!({}));
        w.groups = vec!["anything".into()];
        w.play(&[Expect(0, "block not_working")]);
        w.groups.clear();
        w.play(&[Expect(0, "block not_working")]);
    }

    #[test]
    fn r5_wtm_applies_only_to_agents_in_the_configured_groups() {
        let mut w = TimesheetSource::world(json!({"groups": ["shift-workers", "night"]}));
        w.groups = vec!["support".into()];
        w.play(&[
            Expect(0, "abstain"),
            ReasonHas(0, "shift-workers, night"),
            Send("clock_in", 0),
            Expect(0, "abstain"), // clocked in, but WTM off
        ]);
        // Membership is read at each verdict.
        w.groups.push("night".into());
        w.play(&[
            Expect(0, "grant"),
            Send("clock_out", 10),
            Expect(10, "block not_working"),
        ]);
    }

    #[test]
    fn r5_an_empty_groups_list_applies_to_nobody() {
        let mut w = TimesheetSource::world(json!({"groups": []}));
        w.groups = vec!["support".into()];
        w.play(&[Expect(0, "abstain")]);
    }

    #[test]
    fn r5_repeating_the_current_state_is_harmless() {
        TimesheetSource::run(&[
            Send("clock_out", 0),
            Send("clock_in", 10),
            Send("clock_in", 20),
            Send("resume", 25),
            Reason(30, "clocked in, working since 00:00:10"),
            Send("pause", 40),
            Send("pause", 50),
            Reason(50, "on a break since 00:00:40"),
            Send("clock_out", 60),
            Send("clock_out", 70),
            Reason(70, "not clocked in (clocked out at 00:01:00)"),
        ]);
    }

    #[test]
    fn r5_transitions_that_make_no_sense_are_refused_naming_the_state() {
        TimesheetSource::run(&[
            Refused("pause", 0, "not clocked in"),
            Refused("resume", 0, "not clocked in"),
            Send("clock_in", 10),
            Send("clock_out", 20),
            Refused("resume", 30, "clocked out since 00:00:20"),
            Send("clock_in", 40),
            Send("pause", 50),
            Refused("clock_in", 60, "on a break since 00:00:50"),
            Refused("clock_in", 60, "`resume`"),
        ]);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        TimesheetSource::run(&[
            Send("clock_in", 0),
            Refused("lunch", 10, "clock_in, pause, resume, clock_out"),
            RefusedWith("clock_in", 10, json!({"shift": "early"}), "`shift`"),
        ]);
    }

    #[test]
    fn r5_out_of_order_signals_do_not_move_the_state_backwards() {
        TimesheetSource::run(&[
            Send("clock_in", 100),
            Send("pause", 200),
            Send("clock_in", 150),
            Reason(200, "on a break since 00:03:20"), // late clock_in ignored
            Send("resume", 300),
            Send("pause", 250),
            Send("clock_out", 50),
            Expect(300, "grant"), // late pause and clock_out ignored
            // A stale signal is not checked against the current state: it is simply harmless.
            Send("resume", 10),
            // Same instant: arrival order.
            Send("pause", 300),
            Expect(300, "block not_working"),
        ]);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        assert_default_settings(
            NAME,
            &TimesheetSettings {
                groups: None,
                self_service: true,
            },
        );
        let custom: TimesheetSettings =
            registry::settings(NAME, &json!({"groups": ["a", "b"], "self_service": false}))
                .unwrap();
        assert_eq!(custom.groups, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert!(!custom.self_service);
        assert_settings_refused(NAME, &json!({"self_service": "no"}), "`self_service`");
        assert_settings_refused(NAME, &json!({"group": ["a"]}), "`group`");
        assert_settings_refused(NAME, &json!({"groups": "a"}), "`groups`");
    }

    #[test]
    fn conformance() {
        assert_source_conformance(&mut TimesheetSource::run(&[]).source, t(0));
        let mut w = TimesheetSource::world(json!({"groups": ["x"]}));
        w.assert_conformance_before_and_after(&[Send("clock_in", 0)], t(10));
    }

    #[test]
    fn registers_itself_as_timesheet() {
        assert_registered_source(NAME, EVENTS);
    }
}
