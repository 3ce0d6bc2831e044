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

    fn verdict(&self, set: Option<&FixtureState>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        match set {
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
        if let Err(problem) = self.online_until(end) {
            panic!("{problem}");
        }
    }

    /// What breaks the presence window convention for a window ending at `end` (online one
    /// second before it with `until = end`, offline at it with no `until`), if anything.
    #[track_caller]
    fn online_until(&self, end: Timestamp) -> Result<(), String> {
        let before = self.at(end - TimeDelta::seconds(1));
        if (before.kind, before.until) != (VerdictKind::Online, Some(end)) {
            return Err(format!(
                "one second before {end}, expected online until it: {before:?}"
            ));
        }
        let after = self.at(end);
        if (after.kind, after.until) != (VerdictKind::Offline, None) {
            return Err(format!(
                "at {end}, expected offline with no `until`: {after:?}"
            ));
        }
        Ok(())
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
        self.refusal(event, at, fields)
            .unwrap_or_else(|problem| panic!("`{event}` at {at}: {problem}"))
    }

    /// Sends a signal that should be refused; its error, or what went wrong instead (accepted,
    /// or refused but the source changed).
    #[track_caller]
    fn refusal(
        &mut self,
        event: &str,
        at: Timestamp,
        fields: serde_json::Value,
    ) -> Result<String, String> {
        let before = self.source.clone();
        let Err(message) = self.send(event, at, fields) else {
            return Err("accepted, but should be refused".to_owned());
        };
        if self.source != before {
            return Err(format!(
                "refused (`{message}`), but a refused signal must change nothing"
            ));
        }
        Ok(message)
    }

    /// Plays `script` step by step (see [`Step`]); a step that fails panics, naming its
    /// position in the script.
    #[track_caller]
    pub fn play(&mut self, script: &[Step]) -> &mut Self {
        for (position, step) in script.iter().enumerate() {
            if let Err(problem) = self.step(step) {
                panic!("step {position} of the script, {step:?}: {problem}");
            }
        }
        self
    }

    /// Plays one step; what went wrong, if anything.
    #[track_caller]
    fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send(event, at) => self.accepted(event, *at, serde_json::Value::Null),
            Step::SendWith(event, at, fields) => self.accepted(event, *at, fields.clone()),
            Step::Refused(event, at, needle) => {
                self.refused_naming(event, *at, serde_json::Value::Null, needle)
            }
            Step::RefusedWith(event, at, fields, needle) => {
                self.refused_naming(event, *at, fields.clone(), needle)
            }
            Step::Expect(at, expected) => same("verdict", &summary(&self.at(t(*at))), expected),
            Step::Reason(at, expected) => same("reason", &self.at(t(*at)).reason, expected),
            Step::ReasonHas(at, part) => {
                let reason = self.at(t(*at)).reason;
                if reason.contains(part) {
                    Ok(())
                } else {
                    Err(format!("the reason `{reason}` does not say `{part}`"))
                }
            }
            Step::OnlineUntil(end) => self.online_until(t(*end)),
        }
    }

    /// Sends a signal that must be accepted.
    #[track_caller]
    fn accepted(&mut self, event: &str, at: i64, fields: serde_json::Value) -> Result<(), String> {
        self.send(event, t(at), fields)
            .map_err(|message| format!("refused: {message}"))
    }

    /// Sends a signal that must be refused without changing the source, with an error that
    /// says `needle`.
    #[track_caller]
    fn refused_naming(
        &mut self,
        event: &str,
        at: i64,
        fields: serde_json::Value,
        needle: &str,
    ) -> Result<(), String> {
        let message = self.refusal(event, t(at), fields)?;
        if message.contains(needle) {
            Ok(())
        } else {
            Err(format!("the error `{message}` should name {needle}"))
        }
    }

    /// Runs [`assert_source_conformance`] on the source as it is, at `t(0)`; then plays
    /// `script` and runs it again at `now`.
    #[track_caller]
    pub fn assert_conformance_before_and_after(&mut self, script: &[Step], now: Timestamp) {
        assert_source_conformance(&mut self.source, t(0));
        self.play(script);
        assert_source_conformance(&mut self.source, now);
    }
}

/// The probes a typed source's plugin tests use: implement it with the name the source is
/// registered under, then `PagerSource::run(&[...])` plays a script on the source with its
/// default settings, and `PagerSource::world(settings)` builds one with other settings.
pub trait UnderTest: Source + Clone + PartialEq + std::fmt::Debug {
    /// The name the source is registered under.
    const NAME: &'static str;

    /// One agent, `alice`, and the source built from `settings` (`null`: all defaults).
    #[track_caller]
    fn world(settings: serde_json::Value) -> SourceProbe<TypedSource<Self>> {
        SourceProbe::typed(Self::NAME, &settings)
    }

    /// [`UnderTest::world`] with the default settings, after `script`.
    #[track_caller]
    fn run(script: &[Step]) -> SourceProbe<TypedSource<Self>> {
        let mut world = Self::world(serde_json::Value::Null);
        world.play(script);
        world
    }
}

/// One step of a [`SourceProbe::play`] script; instants are whole seconds after [`t`]`(0)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Sends the event, without fields, at the instant; it must be accepted.
    Send(&'static str, i64),
    /// Sends the event with these fields at the instant; it must be accepted.
    SendWith(&'static str, i64, serde_json::Value),
    /// Sends the event, without fields, at the instant; it must be refused without changing
    /// the source, and its error must say the last string.
    Refused(&'static str, i64, &'static str),
    /// [`Step::Refused`] for the event with these fields.
    RefusedWith(&'static str, i64, serde_json::Value, &'static str),
    /// The verdict at the instant, as [`summary`] writes it: `"block on_leave until 2000"`.
    Expect(i64, &'static str),
    /// The verdict's reason at the instant, in full.
    Reason(i64, &'static str),
    /// Words the verdict's reason at the instant says.
    ReasonHas(i64, &'static str),
    /// The presence window convention for a window ending at the instant: online one second
    /// before it with `until` it, offline at it with no `until`.
    OnlineUntil(i64),
}

/// A `heartbeat` with no open session (never opened, or closed) opens one: the script both
/// heartbeat-driven presence sources, `messenger` (SPEC R6) and `mobile` (SPEC R7), pass with
/// their default two-minute `heartbeat_timeout`.
pub const A_HEARTBEAT_OPENS_A_SESSION: &[Step] = &[
    Step::Send("heartbeat", 10),
    Step::OnlineUntil(130),
    Step::Send("close", 20),
    Step::Send("heartbeat", 30),
    Step::OnlineUntil(150),
];

/// A verdict in a few words, without its reason: its kind, then its code and its `until`
/// (in seconds after [`t`]`(0)`) when it has them, e.g. `"block on_leave until 2000"`.
pub fn summary(verdict: &Verdict) -> String {
    let mut words = verdict.kind.as_str().to_owned();
    if let Some(code) = &verdict.code {
        words = format!("{words} {code}");
    }
    if let Some(until) = verdict.until {
        words = format!("{words} until {}", (until - t(0)).num_seconds());
    }
    words
}

/// `Ok` when `got` is `expected`, else an error saying what (`what`) differs.
fn same(what: &str, got: &str, expected: &str) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("the {what} is `{got}`, expected `{expected}`"))
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

/// Asserts the plugin `name` reads its settings from `null` and from an empty table alike,
/// as `defaults`.
#[track_caller]
pub fn assert_default_settings<T>(name: &str, defaults: &T)
where
    T: serde::de::DeserializeOwned + Default + PartialEq + std::fmt::Debug,
{
    for absent in [serde_json::Value::Null, serde_json::json!({})] {
        let read: T = crate::registry::settings(name, &absent)
            .unwrap_or_else(|e| panic!("settings {absent} refused: {e}"));
        assert_eq!(&read, defaults, "settings read from {absent}");
    }
}

/// Asserts the registered source `name` refuses each of `values` for its setting `key`,
/// naming the key ([`assert_settings_refused`]).
#[track_caller]
pub fn assert_setting_refuses(name: &str, key: &str, values: &[serde_json::Value]) {
    for value in values {
        let settings = serde_json::json!({ key: value });
        assert_settings_refused(name, &settings, &format!("`{key}`"));
    }
}
