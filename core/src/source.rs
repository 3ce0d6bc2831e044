//! The [`AvailabilitySource`] plugin trait: a source learns from signals and answers, for an
//! agent at an instant, with one [`Verdict`] (SPEC R3–R9).

use serde_json::{Map, Value};

use crate::model::{AgentId, GroupDirectory, ReasonCode};
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// One signal for one source about one agent, e.g. `{"agent":"alice","source":"pager",
/// "event":"background"}`. `fields` holds the event's extra fields (e.g. a leave's `from`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    /// The agent concerned.
    pub agent: AgentId,
    /// The source it is for.
    pub source: String,
    /// The event name, one of the source's [`AvailabilitySource::events`].
    pub event: String,
    /// When it happened (never after the engine's now).
    pub at: Timestamp,
    /// Event-specific fields.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl Signal {
    /// A string field, or an error naming it.
    pub fn str_field(&self, name: &str) -> Result<&str, SignalError> {
        match self.fields.get(name) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(SignalError::new(format!("field `{name}` must be a string"))),
            None => Err(SignalError::new(format!(
                "field `{name}` is required for event `{}`",
                self.event
            ))),
        }
    }

    /// An RFC 3339 timestamp field, or an error naming it.
    pub fn time_field(&self, name: &str) -> Result<Timestamp, SignalError> {
        let text = self.str_field(name)?;
        crate::time::parse_rfc3339(text).map_err(|e| {
            SignalError::new(format!("field `{name}` must be an RFC 3339 timestamp: {e}"))
        })
    }

    /// Refuses any field not in `allowed` (unknown fields are an error, SPEC R20).
    pub fn only_fields(&self, allowed: &[&str]) -> Result<(), SignalError> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(SignalError::new(format!(
                "unknown field `{unknown}` for event `{}` of source `{}`",
                self.event, self.source
            ))),
            None => Ok(()),
        }
    }
}

/// A signal refused by a source; the message names the problem. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SignalError {
    /// Human explanation naming the field or event at fault.
    pub message: String,
}

impl SignalError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The standard error for an event the source does not know, listing the valid ones.
    pub fn unknown_event(source: &str, event: &str, valid: &[&str]) -> Self {
        Self::new(format!(
            "unknown event `{event}` for source `{source}`; valid events: {}",
            valid.join(", ")
        ))
    }
}

/// What a source may know about the agent it judges.
#[derive(Debug, Clone, Copy)]
pub struct AgentContext<'a> {
    /// The agent's id.
    pub id: &'a str,
    /// The agent's user groups.
    pub groups: &'a [String],
    /// Every known group's settings (e.g. session lifetimes, SPEC R8).
    pub group_settings: &'a GroupDirectory,
}

impl<'a> AgentContext<'a> {
    /// The value `key` has in each of the agent's groups that sets it, with the group's name.
    pub fn group_values(&self, key: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        let directory = self.group_settings;
        self.groups.iter().filter_map(move |group| {
            let value = directory.get(group)?.get(key)?;
            Some((group.as_str(), value))
        })
    }
}

/// A per-group setting a source reads (e.g. a session lifetime, SPEC R8),
/// declared by that source so the engine can validate `PUT /v1/groups/{group}` bodies
/// without knowing what any setting means.
#[derive(Debug, Clone, Copy)]
pub struct GroupSetting {
    /// The key in the group's settings, e.g. `idle_minutes`.
    pub key: &'static str,
    /// One line for humans: what it changes and its unit.
    pub summary: &'static str,
    /// Validates a non-null value; the message says what is allowed (the key is added by
    /// the caller). `null` always means "the source's default" and is not passed here.
    pub check: fn(&Value) -> Result<(), String>,
}

/// A source of availability facts, as the engine sees it: the object-safe form that every
/// source is erased to. Plugins normally implement the typed [`crate::typed::Source`]
/// instead and get this trait from [`crate::typed::TypedSource`].
///
/// Built once per server; it keeps per-agent state and receives each signal once. A channel
/// selects which sources it combines. `verdict` is on the routing path: synchronous, in
/// memory, and a pure function of the state and its arguments.
#[async_trait::async_trait]
pub trait AvailabilitySource: Send + Sync {
    /// The event names this source accepts, for error messages and docs.
    fn events(&self) -> Vec<&str>;

    /// The reason codes this source's `block` verdicts carry (SPEC R14), e.g. `suspended`.
    fn reason_codes(&self) -> &[ReasonCode] {
        &[]
    }

    /// The per-group settings this source reads (SPEC R8's session lifetime, for example).
    fn group_settings(&self) -> &[GroupSetting] {
        &[]
    }

    /// Whether an agent's own credential may report `event` for itself (SPEC R35d); anything
    /// else from it is refused before it reaches the source. Default: no event.
    fn agent_may_report(&self, event: &str) -> bool {
        let _ = event;
        false
    }

    /// Checks several signals for one agent, in order, as if each earlier one had been
    /// applied; on refusal, the position of the refused signal. Changes nothing. The engine
    /// calls it for every batch, so a batch is accepted only if all of it can be applied
    /// (SPEC R20), and then `ingest` must accept each of them.
    fn check_sequence(
        &self,
        agent: &AgentContext<'_>,
        signals: &[&Signal],
    ) -> Result<(), (usize, SignalError)>;

    /// Checks that `signal` would be accepted in the current state, changing nothing.
    fn check(&self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError> {
        self.check_sequence(agent, &[signal]).map_err(|(_, e)| e)
    }

    /// Applies `signal`. Must change nothing when it returns an error. A signal older than
    /// the last one seen for the same agent and client must not move the state backwards.
    fn ingest(&mut self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError>;

    /// The verdict for `agent` at `now`. `until`, when set, must be after `now`.
    fn verdict(&self, agent: &AgentContext<'_>, now: Timestamp) -> Verdict;

    /// Every agent's state, as JSON (an object keyed by agent id), for snapshots.
    fn snapshot(&self) -> Value;

    /// Replaces every agent's state with a [`AvailabilitySource::snapshot`]'s; on error
    /// nothing changed.
    fn restore(&mut self, snapshot: Value) -> Result<(), SignalError>;

    /// Loads or refreshes state from an external system (I/O). Default: nothing to load.
    async fn refresh(&mut self) -> Result<(), SignalError> {
        Ok(())
    }
}
