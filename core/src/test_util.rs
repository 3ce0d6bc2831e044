//! Fixtures and conformance helpers shared by engine tests and plugin tests
//! (feature `test-util`).

use crate::model::{GroupDirectory, GroupSettings, ReasonCode};
use crate::registry::{PluginError, Registry, SourceBuilder};
use crate::source::{AgentContext, AvailabilitySource, Signal, SignalError};
use crate::time::{TimeDelta, Timestamp};
use crate::typed::{Source, TypedSource};
use crate::verdict::{Verdict, VerdictKind};

/// A source whose verdict a test sets through signals: events `block`, `grant`, `online`,
/// `offline`, `abstain`, with optional fields `until` (RFC 3339: the verdict lasts until then,
/// then becomes `abstain`) and `code` (a block's reason code, default `offline`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fixture;

/// The fixture source, erased as the engine uses it.
pub type FixtureSource = TypedSource<Fixture>;

impl Default for FixtureSource {
    fn default() -> Self {
        TypedSource::new("fixture", Fixture)
    }
}

/// What [`Fixture`] was last told about an agent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FixtureState {
    kind: VerdictKind,
    until: Option<Timestamp>,
    code: Option<ReasonCode>,
}

/// The events [`Fixture`] accepts.
pub const FIXTURE_EVENTS: &[&str] = &["block", "grant", "online", "offline", "abstain"];

/// `[plugins.<fixture>]` settings: none.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl Source for Fixture {
    type Settings = NoSettings;
    type State = FixtureState;

    const EVENTS: &'static [&'static str] = FIXTURE_EVENTS;

    fn new(_: NoSettings) -> Self {
        Self
    }

    fn apply(
        &self,
        _state: Option<&FixtureState>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<FixtureState, SignalError> {
        signal.only_fields(&["until", "code"])?;
        let kind = match signal.event.as_str() {
            "block" => VerdictKind::Block,
            "grant" => VerdictKind::Grant,
            "online" => VerdictKind::Online,
            "offline" => VerdictKind::Offline,
            _ => VerdictKind::Abstain,
        };
        let until = if signal.fields.contains_key("until") {
            Some(signal.time_field("until")?)
        } else {
            None
        };
        let code = if signal.fields.contains_key("code") {
            Some(ReasonCode::new(signal.str_field("code")?))
        } else {
            None
        };
        Ok(FixtureState { kind, until, code })
    }

    fn verdict(
        &self,
        state: Option<&FixtureState>,
        _agent: &AgentContext<'_>,
        now: Timestamp,
    ) -> Verdict {
        match state {
            Some(FixtureState { kind, until, code }) if until.is_none_or(|u| now < u) => {
                let mut verdict = Verdict::new(*kind, format!("fixture says {}", kind.as_str()));
                if *kind == VerdictKind::Block {
                    verdict.code = Some(code.clone().unwrap_or(ReasonCode::OFFLINE));
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
        agent: crate::AgentId::new(agent).unwrap_or_else(|e| panic!("agent id `{agent}`: {e}")),
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
    let mut names: Vec<&str> = source.events();
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
    let snapshot = source.snapshot();
    assert!(
        snapshot.is_object(),
        "a snapshot is an object keyed by agent"
    );
    assert!(
        source.restore(snapshot.clone()).is_ok(),
        "a snapshot must restore"
    );
    assert_eq!(
        source.snapshot(),
        snapshot,
        "restoring a snapshot changes nothing"
    );
    assert_eq!(source.verdict(&agent, now), before);
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
    if let Some(code) = &verdict.code {
        let declared = source.reason_codes().contains(code) || *code == ReasonCode::OFFLINE;
        assert!(
            declared,
            "reason code `{code}` is not declared by the source"
        );
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

/// One agent and one source under test: the harness the source plugins share.
///
/// The agent is `alice` (see [`SourceProbe::agent`]), in no groups, with an empty
/// [`GroupDirectory`]; tests may change all three between calls, since every call builds the
/// agent's context afresh. Signals are sent as coming from the source named at construction.
#[derive(Debug)]
pub struct SourceProbe<S> {
    /// The source under test.
    pub source: S,
    /// The agent's id in every context and signal (default `alice`).
    pub agent: String,
    /// The agent's groups, read at every call.
    pub groups: Vec<String>,
    /// The group settings, read at every call.
    pub directory: GroupDirectory,
    name: String,
}

impl<S: AvailabilitySource> SourceProbe<S> {
    /// A probe for `source`, whose signals name it `name`; the agent is `alice`, in no groups.
    pub fn new(name: &str, source: S) -> Self {
        Self {
            source,
            agent: "alice".to_owned(),
            groups: Vec::new(),
            directory: GroupDirectory::new(),
            name: name.to_owned(),
        }
    }

    /// Puts the agent in `group` (once) and sets that group's settings in the directory.
    pub fn group(&mut self, group: &str, settings: GroupSettings) {
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_owned());
        }
        self.directory.insert(group.to_owned(), settings);
    }

    /// Sends one signal through `check` then `ingest`, which must agree; returns the error
    /// message if refused.
    #[track_caller]
    pub fn send(
        &mut self,
        event: &str,
        at: Timestamp,
        fields: serde_json::Value,
    ) -> Result<(), String> {
        let ctx = context(&self.agent, &self.groups, &self.directory);
        let s = signal(&self.agent, &self.name, event, at, fields);
        let checked = self.source.check(&ctx, &s);
        let ingested = self.source.ingest(&ctx, &s);
        assert_eq!(checked, ingested, "check and ingest must agree");
        ingested.map_err(|e| e.message)
    }

    /// Sends a signal without fields, which must be accepted.
    #[track_caller]
    pub fn ok(&mut self, event: &str, at: Timestamp) {
        self.ok_with(event, at, serde_json::Value::Null);
    }

    /// Sends a signal with `fields`, which must be accepted.
    #[track_caller]
    pub fn ok_with(&mut self, event: &str, at: Timestamp, fields: serde_json::Value) {
        if let Err(message) = self.send(event, at, fields) {
            panic!("`{event}` at {at} was refused: {message}");
        }
    }

    /// The verdict at `now`, after asserting it is sane ([`assert_verdict_sane`]).
    #[track_caller]
    pub fn at(&self, now: Timestamp) -> Verdict {
        let ctx = context(&self.agent, &self.groups, &self.directory);
        assert_verdict_sane(&self.source, &ctx, now);
        self.source.verdict(&ctx, now)
    }

    /// Asserts online one second before `end` (with `until = end`) and offline at `end`
    /// (with no `until`).
    #[track_caller]
    pub fn assert_online_until(&self, end: Timestamp) {
        let before = self.at(end - TimeDelta::seconds(1));
        assert_eq!(before.kind, VerdictKind::Online, "{before:?}");
        assert_eq!(before.until, Some(end));
        let after = self.at(end);
        assert_eq!((after.kind, after.until), (VerdictKind::Offline, None));
    }
}

impl<S: Source> SourceProbe<TypedSource<S>> {
    /// A probe for the typed source `S` built from `settings` read as the plugin's settings
    /// ([`crate::registry::settings`]: `null` = all defaults); panics if they are refused.
    #[track_caller]
    pub fn typed(name: &str, settings: &serde_json::Value) -> Self {
        let source = TypedSource::from_settings(name, settings)
            .unwrap_or_else(|e| panic!("settings {settings} refused: {e}"));
        Self::new(name, source)
    }
}

impl<S: AvailabilitySource + Clone + PartialEq + std::fmt::Debug> SourceProbe<S> {
    /// Sends a signal that must be refused without changing the source; returns the error.
    #[track_caller]
    pub fn refused(&mut self, event: &str, at: Timestamp, fields: serde_json::Value) -> String {
        let before = self.source.clone();
        let Err(err) = self.send(event, at, fields) else {
            panic!("`{event}` at {at} was accepted but should be refused");
        };
        assert_eq!(self.source, before, "a refused signal must change nothing");
        err
    }
}

/// Asserts the plugin registry holds a source named `name` that builds from default settings
/// and advertises exactly `events`.
#[track_caller]
pub fn assert_registered_source(name: &str, events: &[&str]) {
    let registry = Registry::collect().unwrap_or_else(|e| panic!("collecting plugins: {e}"));
    let descriptor = registry.source(name).unwrap_or_else(|e| panic!("{e}"));
    let built = (descriptor.build)(&serde_json::Value::Null)
        .unwrap_or_else(|e| panic!("building `{name}` with default settings: {e}"));
    assert_eq!(built.events(), events);
}

/// Asserts the registered source `name` refuses `settings` with a [`PluginError::Settings`]
/// naming the plugin, whose message contains `needle`.
#[track_caller]
pub fn assert_settings_refused(name: &str, settings: &serde_json::Value, needle: &str) {
    let registry = Registry::collect().unwrap_or_else(|e| panic!("collecting plugins: {e}"));
    let build: SourceBuilder = registry
        .source(name)
        .unwrap_or_else(|e| panic!("{e}"))
        .build;
    let err = match build(settings) {
        Ok(_) => panic!("settings {settings} should be refused"),
        Err(err) => err,
    };
    assert!(matches!(err, PluginError::Settings { ref plugin, .. } if plugin == name));
    assert!(err.to_string().contains(needle), "{err}");
}
