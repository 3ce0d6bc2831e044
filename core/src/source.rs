//! The [`AvailabilitySource`] plugin trait: a source learns from signals and answers, for an
//! agent at an instant, with one [`Verdict`] (SPEC R3–R9).

use serde_json::{Map, Value};

use crate::model::{AgentId, GroupDirectory};
use crate::time::Timestamp;
use crate::verdict::Verdict;

/// One signal for one source about one agent, e.g. `{"agent":"alice","source":"mobile",
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

/// A source of availability facts (HR records, the timesheet, a client app…).
///
/// Built once per server; it keeps per-agent state and receives each signal once. A channel
/// selects which sources it combines. `verdict` is on the routing path: synchronous, in
/// memory, and a pure function of the state and its arguments.
#[async_trait::async_trait]
pub trait AvailabilitySource: Send + Sync {
    /// The event names this source accepts, for error messages and docs.
    fn events(&self) -> &'static [&'static str];

    /// Checks that `signal` would be accepted in the current state, changing nothing.
    fn check(&self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError>;

    /// Checks several signals for one agent, in order, as if each earlier one had been
    /// applied; on refusal, the position of the refused signal. The engine calls it for every
    /// batch, so a batch is accepted only if all of it can be applied (SPEC R20), and then
    /// `ingest` must accept each of them.
    ///
    /// The default checks each signal on its own against the current state, which is right
    /// for sources where a signal's validity does not depend on earlier ones. Sources with
    /// state transitions override it (e.g. by applying the sequence to a scratch copy of the
    /// agent's record).
    fn check_sequence(
        &self,
        agent: &AgentContext<'_>,
        signals: &[&Signal],
    ) -> Result<(), (usize, SignalError)> {
        for (index, signal) in signals.iter().enumerate() {
            self.check(agent, signal).map_err(|e| (index, e))?;
        }
        Ok(())
    }

    /// Applies `signal`. Must change nothing when it returns an error. A signal older than
    /// the last one seen for the same agent and client must not move the state backwards.
    fn ingest(&mut self, agent: &AgentContext<'_>, signal: &Signal) -> Result<(), SignalError>;

    /// The verdict for `agent` at `now`. `until`, when set, must be after `now`.
    fn verdict(&self, agent: &AgentContext<'_>, now: Timestamp) -> Verdict;

    /// Loads or refreshes state from an external system (I/O). Default: nothing to load.
    async fn refresh(&mut self) -> Result<(), SignalError> {
        Ok(())
    }
}
