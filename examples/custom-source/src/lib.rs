//! # openline-example-calendar — a `calendar` availability source, outside openline
//!
//! Agents' calendars know when they are in a meeting. This source **blocks** an agent during
//! a busy block (reason code `in_meeting`, SPEC R14) and **abstains** otherwise, so a channel
//! that lists it stops offering conversations to an agent in a meeting, takes back offers,
//! and requeues accepted conversations where the customer spoke last — without any change to
//! openline itself (SPEC R34).
//!
//! ## Events (`"source": "calendar"`)
//! - `busy` with `id`, `from`, `to` (RFC 3339, `to` after `from`): a busy block `[from, to)`;
//!   re-sending an `id` replaces it.
//! - `free` with `id`: the block is cancelled.
//!
//! Blocks that have ended when a signal arrives are forgotten, so an agent's state holds only
//! what can still block.
//!
//! ## Settings (`[plugins.calendar]`)
//! - `show_titles` (bool, default `true`): name the block's id in the reason.

use std::collections::BTreeMap;

use openline_core::model::ReasonCode;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "calendar";

/// The reason code of a meeting's `block`.
pub const IN_MEETING: ReasonCode = ReasonCode::from_static("in_meeting");

/// Every reason code this source's blocks carry.
const REASON_CODES: &[ReasonCode] = &[IN_MEETING];

/// `[plugins.calendar]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarSettings {
    /// Name the busy block in reasons (default `true`).
    pub show_titles: bool,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self { show_titles: true }
    }
}

/// The `calendar` source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarSource {
    settings: CalendarSettings,
}

/// One agent's busy blocks still to come or in progress, by id: `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Busy(BTreeMap<String, (Timestamp, Timestamp)>);

impl Source for CalendarSource {
    type Settings = CalendarSettings;
    type State = Busy;
    const EVENTS: &'static [&'static str] = &["busy", "free"];

    fn new(settings: CalendarSettings) -> Self {
        Self { settings }
    }

    fn apply(
        &self,
        busy: Option<&Busy>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Busy, SignalError> {
        let mut busy = busy.cloned().unwrap_or_default();
        busy.0.retain(|_, (_, to)| *to > signal.at);
        let id = signal.str_field("id")?.to_owned();
        if signal.event == "free" {
            signal.only_fields(&["id"])?;
            busy.0.remove(&id);
            return Ok(busy);
        }
        signal.only_fields(&["id", "from", "to"])?;
        let (from, to) = (signal.time_field("from")?, signal.time_field("to")?);
        if to <= from {
            return Err(SignalError::new("field `to` must be after `from`"));
        }
        busy.0.insert(id, (from, to));
        Ok(busy)
    }

    fn verdict(&self, busy: Option<&Busy>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        let blocks = busy.map(|b| &b.0).into_iter().flatten();
        let current = blocks
            .clone()
            .find(|(_, (from, to))| *from <= now && now < *to);
        if let Some((id, (_, to))) = current {
            let what = match self.settings.show_titles {
                true => format!("in meeting `{id}` until {}", clock_time(*to)),
                false => format!("in a meeting until {}", clock_time(*to)),
            };
            return Verdict::block(IN_MEETING, what).until(*to);
        }
        match blocks
            .filter(|(_, (from, _))| *from > now)
            .map(|(_, (from, _))| *from)
            .min()
        {
            Some(next) => Verdict::abstain(format!("free until {}", clock_time(next))).until(next),
            None => Verdict::abstain("no meeting ahead"),
        }
    }

    fn reason_codes(&self) -> &[ReasonCode] {
        REASON_CODES
    }
}

openline_core::register_source! {
    CalendarSource,
    name: NAME,
    summary: "calendar: blocks an agent during busy blocks (code in_meeting)",
    can_make_available: false,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::test_util::{
        SourceProbe, assert_registered_source, assert_source_conformance, t,
    };
    use openline_core::typed::TypedSource;
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;

    fn block(id: &str, from: i64, to: i64) -> Value {
        json!({"id": id, "from": t(from).to_rfc3339(), "to": t(to).to_rfc3339()})
    }

    #[test]
    fn r14_a_busy_block_blocks_inside_its_interval_only() {
        let mut w: SourceProbe<TypedSource<CalendarSource>> =
            SourceProbe::typed(NAME, &Value::Null);
        w.ok_with("busy", t(0), block("standup", 600, 1200));
        let before = w.at(t(599));
        assert_eq!(
            (before.kind, before.until),
            (VerdictKind::Abstain, Some(t(600)))
        );
        let during = w.at(t(600));
        assert_eq!(
            (during.kind, during.until),
            (VerdictKind::Block, Some(t(1200)))
        );
        assert_eq!(during.code, Some(IN_MEETING));
        assert_eq!(during.reason, "in meeting `standup` until 00:20:00");
        assert_eq!(w.at(t(1200)).kind, VerdictKind::Abstain);
        w.ok_with("free", t(700), json!({"id": "standup"}));
        assert_eq!(w.at(t(700)).kind, VerdictKind::Abstain);
    }

    #[test]
    fn ended_blocks_are_forgotten_and_bad_blocks_refused() {
        let mut w: SourceProbe<TypedSource<CalendarSource>> =
            SourceProbe::typed(NAME, &json!({"show_titles": false}));
        w.ok_with("busy", t(0), block("a", 10, 20));
        w.ok_with("busy", t(30), block("b", 40, 50));
        assert_eq!(w.source.state("alice").unwrap().0.len(), 1, "`a` ended");
        assert_eq!(w.at(t(45)).reason, "in a meeting until 00:00:50");
        let err = w.refused("busy", t(30), block("c", 60, 60));
        assert_eq!(err, "field `to` must be after `from`");
        let err = w.refused("free", t(30), Value::Null);
        assert!(err.contains("`id`"), "{err}");
    }

    #[test]
    fn conformance_and_registration() {
        let mut w: SourceProbe<TypedSource<CalendarSource>> =
            SourceProbe::typed(NAME, &Value::Null);
        assert_source_conformance(&mut w.source, t(0));
        w.ok_with("busy", t(0), block("x", 10, 20));
        assert_source_conformance(&mut w.source, t(15));
        assert_registered_source(NAME, &["busy", "free"]);
    }
}
