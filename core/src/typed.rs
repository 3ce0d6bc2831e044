//! The typed source trait plugins implement, and the generic adapter that erases it to an
//! [`AvailabilitySource`] (quickwit's typed factory, STYLE.md).
//!
//! A plugin says what it knows about **one** agent: its settings, its per-agent `State`, how
//! a signal changes that state and what verdict the state gives. [`TypedSource`] owns the
//! rest, the same way for every source: the per-agent map, the event-name check, batches
//! applied to scratch copies (all-or-nothing, SPEC R20), and snapshots of every agent's state.
//! A source whose state is large overrides [`Source::apply_in_place`] and [`Source::check`]
//! so that a signal costs what it changes, not a copy of the state (SPEC R21c, R24a).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::ReasonCode;
use crate::registry::PluginError;
use crate::source::{AgentContext, AvailabilitySource, GroupSetting, Signal, SignalError};
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// A source plugin, typed. Implement this; register it with [`crate::register_source!`].
pub trait Source: Sized + Send + Sync + 'static {
    /// The `[plugins.<name>]` settings; `Default` is what an absent table means. Refuse
    /// unknown keys with `#[serde(deny_unknown_fields)]`.
    type Settings: DeserializeOwned + Default;

    /// What the source remembers of one agent. It is snapshotted and restored as JSON, so
    /// keep it plain data.
    type State: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;

    /// The event names it accepts, when they are fixed (most sources).
    const EVENTS: &'static [&'static str] = &[];

    /// The source, from validated settings.
    fn new(settings: Self::Settings) -> Self;

    /// The event names it accepts (default: [`Source::EVENTS`]; a source whose events
    /// come from its settings overrides this). Called once, when the source is built.
    fn events(&self) -> Vec<&str> {
        Self::EVENTS.to_vec()
    }

    /// The reason codes its `block` verdicts carry (SPEC R14). Default: none (a source that
    /// never blocks).
    fn reason_codes(&self) -> &[ReasonCode] {
        &[]
    }

    /// The per-group settings it reads. Default: none.
    fn group_settings(&self) -> &[GroupSetting] {
        &[]
    }

    /// Whether an agent's own credential (an `agent` token or JWT) may report `event` (one
    /// of [`Source::events`]) for itself (SPEC R35d). Default: no event — a source whose
    /// events a person may report about themselves (presence from their own apps) says so;
    /// facts an employer records (HR, schedules) come from integrations only.
    fn agent_may_report(&self, event: &str) -> bool {
        let _ = event;
        false
    }

    /// The agent's state after `signal` (whose event is one of [`Source::events`]), from its
    /// `state` so far (`None` until a signal was accepted for it), or the refusal. A signal
    /// older than what it would replace must give the state as it is (accepted, ignored).
    fn apply(
        &self,
        state: Option<&Self::State>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Self::State, SignalError>;

    /// [`Source::apply`] to the agent's existing `state`, changing it where it is: a source
    /// whose state is large (many records per agent) overrides this so that a signal costs
    /// what it changes, not a copy of the whole state. [`TypedSource`] calls it for every
    /// signal ingested for an agent it already has a state for.
    ///
    /// Contract: the outcome is [`Source::apply`]'s (the same refusals, the same state
    /// afterwards), and on `Err` the state must be left exactly as it was: validate the signal
    /// first, then mutate. Default: `apply`, whose result replaces `*state`.
    fn apply_in_place(
        &self,
        state: &mut Self::State,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<(), SignalError> {
        *state = self.apply(Some(state), agent, signal)?;
        Ok(())
    }

    /// Whether [`Source::apply`] would accept `signal` (same `Ok`/`Err`), without building
    /// the next state: [`TypedSource`] calls it to check a single signal, or the last one of
    /// a sequence, so a source with a large state overrides it to validate without copying.
    /// Default: `apply`, its result dropped.
    fn check(
        &self,
        state: Option<&Self::State>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<(), SignalError> {
        self.apply(state, agent, signal).map(drop)
    }

    /// The verdict for the agent at `now`; `state` is `None` until a signal was accepted for
    /// it. `until`, when set, must be after `now`.
    fn verdict(
        &self,
        state: Option<&Self::State>,
        agent: &AgentContext<'_>,
        now: Timestamp,
    ) -> Verdict;
}

/// A [`Source`] with its per-agent states: the [`AvailabilitySource`] the engine uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedSource<S: Source> {
    source: S,
    /// What `source.events()` said, kept for the check on every signal.
    events: Vec<String>,
    /// The source's name, for error messages.
    name: String,
    /// By agent id (ids were checked where they entered the engine).
    states: HashMap<Arc<str>, S::State>,
}

impl<S: Source> TypedSource<S> {
    /// Wraps `source`, registered as `name`; no agent heard of yet.
    pub fn new(name: &str, source: S) -> Self {
        let events = source.events().into_iter().map(str::to_owned).collect();
        Self {
            source,
            events,
            name: name.to_owned(),
            states: HashMap::new(),
        }
    }

    /// Builds the source from its `[plugins.<name>]` settings (`null` = defaults).
    pub fn from_settings(name: &str, settings: &Value) -> Result<Self, PluginError> {
        let settings: S::Settings = crate::registry::settings(name, settings)?;
        Ok(Self::new(name, S::new(settings)))
    }

    /// The typed source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The state of agent `id`, if any signal for it was accepted.
    pub fn state(&self, id: &str) -> Option<&S::State> {
        self.states.get(id)
    }

    /// The state after `signal`, or the refusal.
    fn step(
        &self,
        state: Option<&S::State>,
        agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<S::State, SignalError> {
        step(&self.source, &self.events, &self.name, state, agent, signal)
    }
}

#[async_trait::async_trait]
impl<S: Source> AvailabilitySource for TypedSource<S> {
    fn events(&self) -> Vec<&str> {
        self.events.iter().map(String::as_str).collect()
    }

    fn reason_codes(&self) -> &[ReasonCode] {
        self.source.reason_codes()
    }

    fn group_settings(&self) -> &[GroupSetting] {
        self.source.group_settings()
    }

    fn agent_may_report(&self, event: &str) -> bool {
        self.source.agent_may_report(event)
    }

    fn check_sequence(
        &self,
        agent: &AgentContext<'_>,
        signals: &[&Signal],
    ) -> Result<(), (usize, SignalError)> {
        let current = self.states.get(agent.id);
        let Some((last, earlier)) = signals.split_last() else {
            return Ok(());
        };
        // Only a sequence needs a scratch copy (one, made by the first signal's `apply`; the
        // next ones change it in place): each signal applies to the state the one before left.
        // The last signal is only checked, so a single signal copies nothing.
        let mut scratch: Option<S::State> = None;
        for (index, signal) in earlier.iter().enumerate() {
            let applied = match &mut scratch {
                Some(state) => accepts(&self.events, &self.name, signal)
                    .and_then(|()| self.source.apply_in_place(state, agent, signal)),
                None => self
                    .step(current, agent, signal)
                    .map(|next| scratch = Some(next)),
            };
            applied.map_err(|e| (index, e))?;
        }
        accepts(&self.events, &self.name, last)
            .and_then(|()| self.source.check(scratch.as_ref().or(current), agent, last))
            .map_err(|e| (earlier.len(), e))
    }

    fn ingest(&mut self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError> {
        // One lookup on the hot path: the state is changed where it is.
        let Self {
            source,
            events,
            name,
            states,
        } = self;
        match states.get_mut(agent.id) {
            Some(state) => {
                accepts(events, name, signal)?;
                source.apply_in_place(state, agent, signal)?;
            }
            None => {
                let next = step(source, events, name, None, agent, signal)?;
                states.insert(agent.id.into(), next);
            }
        }
        Ok(())
    }

    fn verdict(&self, agent: &AgentContext<'_>, now: Timestamp) -> Verdict {
        self.source.verdict(self.states.get(agent.id), agent, now)
    }

    fn snapshot(&self) -> Value {
        let mut agents: Vec<(&Arc<str>, &S::State)> = self.states.iter().collect();
        agents.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = serde_json::Map::with_capacity(agents.len());
        for (id, state) in agents {
            // Plain-data states always serialize; a failure would be a plugin bug, and it
            // must show in the snapshot rather than vanish.
            let value = serde_json::to_value(state)
                .unwrap_or_else(|e| Value::String(format!("unserializable state: {e}")));
            map.insert(id.to_string(), value);
        }
        Value::Object(map)
    }

    fn restore(&mut self, snapshot: Value) -> Result<(), SignalError> {
        let states: HashMap<Arc<str>, S::State> = serde_json::from_value(snapshot)
            .map_err(|e| SignalError::new(format!("snapshot of source `{}`: {e}", self.name)))?;
        self.states = states;
        Ok(())
    }
}

/// `state` after `signal` for `source` (registered as `name`, accepting `events`), or the
/// refusal: an event it does not accept, or whatever `apply` says.
fn step<S: Source>(
    source: &S,
    events: &[String],
    name: &str,
    state: Option<&S::State>,
    agent: &AgentContext<'_>,
    signal: &Signal,
) -> Result<S::State, SignalError> {
    accepts(events, name, signal)?;
    source.apply(state, agent, signal)
}

/// Refuses a signal whose event is not one of `events` (the source is registered as `name`).
fn accepts(events: &[String], name: &str, signal: &Signal) -> Result<(), SignalError> {
    if events.contains(&signal.event) {
        return Ok(());
    }
    let valid: Vec<&str> = events.iter().map(String::as_str).collect();
    Err(SignalError::unknown_event(name, &signal.event, &valid))
}

/// Builds the typed source `S` registered as `name` from its settings: what
/// [`crate::register_source!`] puts in the registry.
pub fn build<S: Source>(
    name: &str,
    settings: &Value,
) -> Result<Box<dyn AvailabilitySource>, PluginError> {
    Ok(Box::new(TypedSource::<S>::from_settings(name, settings)?))
}

/// Registers a typed [`Source`] under a name, so every binary that links the crate has it:
///
/// ```text
/// openline_core::register_source! {
///     PagerSource,
///     name: "pager",
///     summary: "on-call pager: online while the agent holds the pager",
///     can_make_available: true,
/// }
/// ```
#[macro_export]
macro_rules! register_source {
    ($source:ty, name: $name:expr, summary: $summary:expr, can_make_available: $can:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::SourceDescriptor {
                name: $name,
                summary: $summary,
                can_make_available: $can,
                build: |settings| $crate::typed::build::<$source>($name, settings),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde::Deserialize;

    use super::*;
    use crate::model::GroupDirectory;
    use crate::test_util::{context, signal, t};
    use crate::verdict::VerdictKind;

    /// Counts `tick`s; `fail` is refused once the count is 2 or more.
    #[derive(Debug, Clone, PartialEq)]
    struct Counter;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoSettings {}

    impl Source for Counter {
        type Settings = NoSettings;
        type State = u32;

        const EVENTS: &'static [&'static str] = &["tick", "fail"];

        fn new(_: NoSettings) -> Self {
            Self
        }

        fn reason_codes(&self) -> &[ReasonCode] {
            COUNTER_CODES
        }

        fn group_settings(&self) -> &[GroupSetting] {
            COUNTER_GROUP_SETTINGS
        }

        fn apply(
            &self,
            state: Option<&u32>,
            _: &AgentContext<'_>,
            s: &Signal,
        ) -> Result<u32, SignalError> {
            let next = state.copied().unwrap_or(0) + 1;
            if s.event == "fail" && next > 2 {
                return Err(SignalError::new("too many"));
            }
            Ok(next)
        }

        fn verdict(&self, state: Option<&u32>, _: &AgentContext<'_>, _: Timestamp) -> Verdict {
            match state {
                Some(n) => Verdict::online(format!("{n} ticks")),
                None => Verdict::offline("never ticked"),
            }
        }
    }

    const COUNTER_CODES: &[ReasonCode] = &[ReasonCode::from_static("counted_out")];
    const COUNTER_GROUP_SETTINGS: &[GroupSetting] = &[GroupSetting {
        key: "ticks_per_minute",
        summary: "how fast",
        check: |_| Ok(()),
    }];

    #[test]
    fn the_erased_source_shows_what_the_typed_one_declares() {
        let source = TypedSource::new("counter", Counter);
        let erased: &dyn AvailabilitySource = &source;
        assert_eq!(erased.events(), ["tick", "fail"]);
        assert_eq!(erased.reason_codes(), COUNTER_CODES);
        let keys: Vec<&str> = erased.group_settings().iter().map(|g| g.key).collect();
        assert_eq!(keys, ["ticks_per_minute"]);
        assert_eq!(source.source(), &Counter);
    }

    fn sig(event: &str) -> Signal {
        signal("a", "counter", event, t(0), Value::Null)
    }

    #[test]
    fn r20_a_batch_is_checked_on_a_scratch_copy_and_changes_nothing() {
        let directory = GroupDirectory::new();
        let a = context("a", &[], &directory);
        let mut source = TypedSource::new("counter", Counter);
        let (tick, fail) = (sig("tick"), sig("fail"));
        assert!(source.check_sequence(&a, &[&tick, &fail]).is_ok());
        let err = source
            .check_sequence(&a, &[&tick, &tick, &fail])
            .unwrap_err();
        assert_eq!((err.0, err.1.message.as_str()), (2, "too many"));
        assert_eq!(source.state("a"), None, "checking changed nothing");
        source.ingest(&a, &tick).unwrap();
        assert_eq!(source.state("a"), Some(&1));
        source.ingest(&a, &tick).unwrap();
        let before = source.clone();
        assert!(source.ingest(&a, &fail).is_err());
        assert_eq!(source, before, "a refused signal changes nothing");
        assert_eq!(source.verdict(&a, t(0)).reason, "2 ticks");
    }

    #[test]
    fn unknown_events_are_refused_listing_the_valid_ones() {
        let directory = GroupDirectory::new();
        let a = context("a", &[], &directory);
        let mut source = TypedSource::new("counter", Counter);
        let err = source.ingest(&a, &sig("boom")).unwrap_err();
        assert_eq!(
            err.message,
            "unknown event `boom` for source `counter`; valid events: tick, fail"
        );
        assert_eq!(source.state("a"), None);
        assert_eq!(source.verdict(&a, t(0)).kind, VerdictKind::Offline);
    }

    #[test]
    fn r19_a_snapshot_restores_every_agents_state() {
        let directory = GroupDirectory::new();
        let mut source = TypedSource::new("counter", Counter);
        for agent in ["a", "b", "a"] {
            let ctx = context(agent, &[], &directory);
            source
                .ingest(&ctx, &signal(agent, "counter", "tick", t(0), Value::Null))
                .unwrap();
        }
        let snapshot = source.snapshot();
        assert_eq!(snapshot, serde_json::json!({"a": 2, "b": 1}));
        let mut restored = TypedSource::new("counter", Counter);
        restored.restore(snapshot).unwrap();
        assert_eq!(restored, source);
        let err = restored.restore(serde_json::json!({"a": "x"})).unwrap_err();
        assert!(
            err.message.starts_with("snapshot of source `counter`:"),
            "{err}"
        );
        assert_eq!(restored, source, "a bad snapshot changes nothing");
    }

    /// Logs how each signal reached its state: `new` (`apply` without a state), `copy`
    /// (`apply` to an existing state) or `in place`; counts `check`s. `fail` is refused.
    #[derive(Debug, Default)]
    struct Ledger {
        checks: std::sync::atomic::AtomicUsize,
    }

    impl Ledger {
        fn refuse(signal: &Signal) -> Result<(), SignalError> {
            match signal.event.as_str() {
                "fail" => Err(SignalError::new("refused")),
                _ => Ok(()),
            }
        }
    }

    impl Source for Ledger {
        type Settings = NoSettings;
        type State = Vec<String>;

        const EVENTS: &'static [&'static str] = &["log", "fail"];

        fn new(_: NoSettings) -> Self {
            Self::default()
        }

        fn apply(
            &self,
            state: Option<&Vec<String>>,
            _: &AgentContext<'_>,
            s: &Signal,
        ) -> Result<Vec<String>, SignalError> {
            Self::refuse(s)?;
            let mut next = state.cloned().unwrap_or_default();
            next.push(if state.is_some() { "copy" } else { "new" }.to_owned());
            Ok(next)
        }

        fn apply_in_place(
            &self,
            state: &mut Vec<String>,
            _: &AgentContext<'_>,
            s: &Signal,
        ) -> Result<(), SignalError> {
            Self::refuse(s)?;
            state.push("in place".to_owned());
            Ok(())
        }

        fn check(
            &self,
            _: Option<&Vec<String>>,
            _: &AgentContext<'_>,
            s: &Signal,
        ) -> Result<(), SignalError> {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Self::refuse(s)
        }

        fn verdict(&self, _: Option<&Vec<String>>, _: &AgentContext<'_>, _: Timestamp) -> Verdict {
            Verdict::abstain("ledger")
        }
    }

    #[test]
    fn r21c_a_state_is_changed_in_place_and_one_signal_is_checked_without_a_copy() {
        let directory = GroupDirectory::new();
        let a = context("a", &[], &directory);
        let mut source = TypedSource::new("ledger", Ledger::default());
        let sig = |event| signal("a", "ledger", event, t(0), Value::Null);
        let checks = |source: &TypedSource<Ledger>| {
            source
                .source()
                .checks
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        assert!(source.check(&a, &sig("log")).is_ok());
        assert_eq!(checks(&source), 1, "one signal: `check`, not `apply`");
        source.ingest(&a, &sig("log")).unwrap();
        source.ingest(&a, &sig("log")).unwrap();
        assert_eq!(source.state("a").unwrap(), &["new", "in place"]);
        assert!(source.ingest(&a, &sig("fail")).is_err());
        assert!(source.ingest(&a, &sig("boom")).is_err());
        assert_eq!(source.state("a").unwrap(), &["new", "in place"]);
        assert_eq!(
            source.check(&a, &sig("fail")).unwrap_err().message,
            "refused"
        );
        assert_eq!(checks(&source), 2);
        // A sequence: one copy for the first signal, in place after it, the last checked.
        let (log, fail) = (sig("log"), sig("fail"));
        assert!(source.check_sequence(&a, &[&log, &log, &log]).is_ok());
        assert_eq!(checks(&source), 3);
        let err = source.check_sequence(&a, &[&log, &fail, &log]).unwrap_err();
        assert_eq!((err.0, err.1.message.as_str()), (1, "refused"));
        let boom = sig("boom");
        let err = source.check_sequence(&a, &[&log, &boom, &log]).unwrap_err();
        assert_eq!(err.0, 1, "unknown events are refused in a sequence too");
        assert_eq!(source.state("a").unwrap(), &["new", "in place"]);
    }

    #[test]
    fn the_default_in_place_apply_and_check_use_apply() {
        let directory = GroupDirectory::new();
        let a = context("a", &[], &directory);
        let mut state = 1;
        Counter
            .apply_in_place(&mut state, &a, &sig("tick"))
            .unwrap();
        assert_eq!(state, 2);
        assert!(
            Counter
                .apply_in_place(&mut state, &a, &sig("fail"))
                .is_err()
        );
        assert_eq!(state, 2, "a refusal changes nothing");
        assert!(Counter.check(Some(&1), &a, &sig("fail")).is_ok());
        assert!(Counter.check(Some(&2), &a, &sig("fail")).is_err());
        assert!(Counter.check(None, &a, &sig("tick")).is_ok());
    }

    #[test]
    fn settings_are_read_with_the_plugins_name_in_errors() {
        let err = TypedSource::<Counter>::from_settings("counter", &serde_json::json!({"x": 1}))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid settings for counter:"),
            "{err}"
        );
        assert!(TypedSource::<Counter>::from_settings("counter", &Value::Null).is_ok());
    }
}
