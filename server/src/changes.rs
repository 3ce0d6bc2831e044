//! Settings change events (API.md third wave, "Events"; SPEC R32): a command that changes a
//! channel or an agent publishes `channel.changed` or `agent.changed` with the object after
//! the change, exactly as `GET` of that channel or agent shows it, so that an open dashboard
//! follows a change made anywhere (the API, another page, the config file at start).
//!
//! The runtime looks at the object before and after the command, under the engine's lock,
//! and hands the event to the store writer with the command: it is numbered, retained and
//! delivered like every other event. It costs one event per settings change that changes
//! something, and nothing on any other command.

use openline_core::{Command, Engine, Timestamp};
use serde::Serialize;

use crate::channel::ChannelBody;
use crate::http::dto::AgentView;

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Agent,
}

impl Kind {
    /// The object as `GET` shows it, if it exists.
    fn object(self, engine: &Engine, id: &str) -> Option<serde_json::Value> {
        let object = match self {
            Self::Channel => serde_json::to_value(ChannelBody::of(engine, id)?),
            Self::Agent => serde_json::to_value(AgentView::of(engine, id)?),
        };
        object.ok()
    }
}

/// The object a settings command may change, as it was before the command.
#[derive(Debug)]
pub struct Watch {
    kind: Kind,
    id: String,
    before: Option<serde_json::Value>,
}

impl Watch {
    /// What `command` may change, read from `engine` before it is applied; `None` for a
    /// command that changes no channel or agent settings.
    pub fn before(command: &Command, engine: &Engine) -> Option<Self> {
        let (kind, id) = match command {
            Command::PutChannel { id, .. } => (Kind::Channel, id.as_str()),
            Command::PutAgent { id, .. } => (Kind::Agent, id.as_str()),
            _ => return None,
        };
        Some(Self {
            kind,
            id: id.to_owned(),
            before: kind.object(engine, id),
        })
    }

    /// The event at `at`, when the object is new or differs from before (a PUT that repeats
    /// the settings changes nothing and publishes nothing).
    pub fn after(self, engine: &Engine, at: Timestamp) -> Option<Changed> {
        let object = self.kind.object(engine, &self.id)?;
        (self.before.as_ref() != Some(&object)).then_some(Changed {
            kind: self.kind,
            at,
            id: self.id,
            object,
        })
    }
}

/// A `channel.changed` or `agent.changed` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    kind: Kind,
    at: Timestamp,
    id: String,
    object: serde_json::Value,
}

/// The JSON of a [`Changed`]: `type` first, as every event has it.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    object: &'a serde_json::Value,
}

impl Changed {
    /// The event type: `channel.changed` or `agent.changed`.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Channel => "channel.changed",
            Kind::Agent => "agent.changed",
        }
    }

    /// When the change was made.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// The channel that changed, for `channel.changed`.
    pub fn channel(&self) -> Option<&str> {
        (self.kind == Kind::Channel).then_some(self.id.as_str())
    }

    /// The agent that changed, for `agent.changed`.
    pub fn agent(&self) -> Option<&str> {
        (self.kind == Kind::Agent).then_some(self.id.as_str())
    }

    /// The event as JSON: `{"type", "at", "channel" or "agent" (the id), "object"}`.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&Wire {
            kind: self.kind(),
            at: self.at,
            channel: self.channel(),
            agent: self.agent(),
            object: &self.object,
        })
    }
}
