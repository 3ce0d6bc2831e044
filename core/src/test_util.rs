//! Fixtures and conformance helpers shared by engine tests and plugin tests
//! (feature `test-util`).

use std::collections::HashMap;

use crate::model::{GroupDirectory, ReasonCode};
use crate::source::{AgentContext, AvailabilitySource, Signal, SignalError};
use crate::time::Timestamp;
use crate::verdict::{Verdict, VerdictKind};

/// A source whose verdict a test sets through signals: events `block`, `grant`, `online`,
/// `offline`, `abstain`, with optional fields `until` (RFC 3339: the verdict lasts until then,
/// then becomes `abstain`) and `code` (a block's reason code, default `offline`).
#[derive(Debug, Default)]
pub struct FixtureSource {
    verdicts: HashMap<String, (VerdictKind, Option<Timestamp>, Option<ReasonCode>)>,
}

/// The events [`FixtureSource`] accepts.
pub const FIXTURE_EVENTS: &[&str] = &["block", "grant", "online", "offline", "abstain"];

impl FixtureSource {
    fn parse(
        signal: &Signal,
    ) -> Result<(VerdictKind, Option<Timestamp>, Option<ReasonCode>), SignalError> {
        signal.only_fields(&["until", "code"])?;
        let kind = match signal.event.as_str() {
            "block" => VerdictKind::Block,
            "grant" => VerdictKind::Grant,
            "online" => VerdictKind::Online,
            "offline" => VerdictKind::Offline,
            "abstain" => VerdictKind::Abstain,
            other => {
                return Err(SignalError::unknown_event(
                    &signal.source,
                    other,
                    FIXTURE_EVENTS,
                ));
            }
        };
        let until = if signal.fields.contains_key("until") {
            Some(signal.time_field("until")?)
        } else {
            None
        };
        let code = if signal.fields.contains_key("code") {
            Some(ReasonCode::parse(signal.str_field("code")?))
        } else {
            None
        };
        Ok((kind, until, code))
    }
}

#[async_trait::async_trait]
impl AvailabilitySource for FixtureSource {
    fn events(&self) -> &'static [&'static str] {
        FIXTURE_EVENTS
    }

    fn check(&self, _agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError> {
        Self::parse(signal).map(|_| ())
    }

    fn ingest(&mut self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError> {
        let parsed = Self::parse(signal)?;
        self.verdicts.insert(agent.id.to_owned(), parsed);
        Ok(())
    }

    fn verdict(&self, agent: &AgentContext<'_>, now: Timestamp) -> Verdict {
        match self.verdicts.get(agent.id) {
            Some((kind, until, code)) if until.is_none_or(|u| now < u) => {
                let mut verdict = Verdict::new(*kind, format!("fixture says {}", kind.as_str()));
                if *kind == VerdictKind::Block {
                    verdict.code = Some(code.clone().unwrap_or(ReasonCode::Offline));
                }
                verdict.until = *until;
                verdict
            }
            _ => Verdict::abstain("fixture has no opinion"),
        }
    }
}

/// A context for an agent with these groups and no group settings.
pub fn context<'a>(
    id: &'a str,
    groups: &'a [String],
    directory: &'a GroupDirectory,
) -> AgentContext<'a> {
    AgentContext {
        id,
        groups,
        group_settings: directory,
    }
}

/// A signal at `at` with JSON `fields` (an object, or `null` for none).
pub fn signal(
    agent: &str,
    source: &str,
    event: &str,
    at: Timestamp,
    fields: serde_json::Value,
) -> Signal {
    Signal {
        agent: agent.into(),
        source: source.to_owned(),
        event: event.to_owned(),
        at,
        fields: match fields {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    }
}

/// An instant `seconds` after 2026-01-01T00:00:00Z, for readable tests.
pub fn t(seconds: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 0).unwrap_or_default()
}

/// Conformance checks every source plugin should pass (run them from the plugin's tests):
/// - an unknown event is refused by `check` and `ingest`, naming the valid events, and
///   changes no verdict;
/// - every advertised event name is non-empty and unique;
/// - a verdict's `until`, when set, is after the instant asked about, and asking twice gives
///   the same verdict (verdicts are pure).
pub fn assert_source_conformance(source: &mut dyn AvailabilitySource, now: Timestamp) {
    let directory = GroupDirectory::new();
    let agent = context("conformance-agent", &[], &directory);
    let before = source.verdict(&agent, now);
    let bogus = signal(
        "conformance-agent",
        "conformance",
        "no-such-event",
        now,
        serde_json::Value::Null,
    );
    let refused = source.check(&agent, &bogus);
    assert!(refused.is_err(), "check must refuse an unknown event");
    let message = refused.err().map(|e| e.message).unwrap_or_default();
    for event in source.events() {
        assert!(
            message.contains(event),
            "the error `{message}` should list valid event `{event}`"
        );
    }
    assert!(
        source.ingest(&agent, &bogus).is_err(),
        "ingest must refuse an unknown event"
    );
    assert_eq!(
        source.verdict(&agent, now),
        before,
        "a refused signal must change nothing"
    );
    let mut names: Vec<&str> = source.events().to_vec();
    assert!(
        names.iter().all(|n| !n.is_empty()),
        "event names must not be empty"
    );
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        source.events().len(),
        "event names must be unique"
    );
    assert_verdict_sane(source, &agent, now);
}

/// Asserts the verdict at `now` is pure and its `until`, if any, lies after `now`.
pub fn assert_verdict_sane(
    source: &dyn AvailabilitySource,
    agent: &AgentContext<'_>,
    now: Timestamp,
) {
    let verdict = source.verdict(agent, now);
    assert_eq!(source.verdict(agent, now), verdict, "verdicts must be pure");
    assert!(
        !verdict.reason.is_empty(),
        "every verdict carries a human reason"
    );
    if let Some(until) = verdict.until {
        assert!(until > now, "until ({until}) must be after now ({now})");
    }
}

/// Asserts the verdict kind at `at`, with a readable failure.
pub fn assert_kind_at(
    source: &dyn AvailabilitySource,
    agent: &AgentContext<'_>,
    at: Timestamp,
    kind: VerdictKind,
) {
    let verdict = source.verdict(agent, at);
    assert_eq!(verdict.kind, kind, "at {at}: got {verdict:?}");
}
