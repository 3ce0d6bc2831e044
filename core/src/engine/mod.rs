//! The routing engine: a deterministic state machine. `apply(command, now)` and
//! `advance_to(now)` return the events they caused; nothing here reads a clock or does I/O.
//!
//! Indexes: agents, channels and conversations live in dense vectors addressed by small keys;
//! each channel's policy keeps its own index of eligible agents, so a routing decision costs
//! O(log n) in the queue size; one ordered set holds every pending deadline.

mod archive;
mod arena;
mod availability;
mod command;
mod conversations;
mod deadlines;
mod error;
mod event;
mod members;
mod plugins;
mod reads;
mod routing;
mod settings;
mod snapshot;
mod state;

use std::collections::HashMap;

pub use command::Command;
pub use error::{EngineError, Result};
pub use event::Event;
pub use plugins::{Plugins, SourceInfo};
pub use reads::{ChannelAvailability, SourceVerdict};
pub use snapshot::{SNAPSHOT_FORMAT, Snapshot};

use crate::model::GroupDirectory;
use crate::time::Timestamp;
use deadlines::Deadlines;
use state::{AgentSlot, ChannelSlot};

/// The result of an accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Everything that happened, in order.
    pub events: Vec<Event>,
    /// Whether the command created its subject (agent, channel, conversation) rather than
    /// replacing or finding it.
    pub created: bool,
}

/// The routing engine (see the module docs).
pub struct Engine {
    now: Timestamp,
    plugins: Plugins,
    groups: GroupDirectory,
    agents: Vec<AgentSlot>,
    agent_keys: HashMap<crate::AgentId, crate::AgentKey>,
    /// Slots of placeholders no queue names any more, for reuse (SPEC R21e).
    free_agent_keys: Vec<crate::AgentKey>,
    channels: Vec<ChannelSlot>,
    channel_keys: HashMap<crate::ChannelId, usize>,
    conversations: arena::Conversations,
    deadlines: Deadlines,
    next_arrival: u64,
    /// Channels that may be able to route now.
    dirty: routing::DirtyChannels,
    /// Events of the operation in progress.
    events: Vec<Event>,
    /// Scratch buffer for policy choices.
    chosen: Vec<crate::AgentKey>,
    /// Who the command being applied comes from, while its own effects are applied (SPEC
    /// R28): history entries carry it; routing and deadlines run with `None`.
    actor: Option<String>,
}

impl Engine {
    /// An empty engine at instant `now` with these plugins.
    pub fn new(plugins: Plugins, now: Timestamp) -> Self {
        Self {
            now,
            plugins,
            groups: GroupDirectory::new(),
            agents: Vec::new(),
            agent_keys: HashMap::new(),
            free_agent_keys: Vec::new(),
            channels: Vec::new(),
            channel_keys: HashMap::new(),
            conversations: arena::Conversations::default(),
            deadlines: Deadlines::default(),
            next_arrival: 0,
            dirty: routing::DirtyChannels::default(),
            events: Vec::new(),
            chosen: Vec::new(),
            actor: None,
        }
    }

    /// The engine's current instant (the latest it was given).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The earliest pending deadline (offer expiry, a verdict changing by itself), if any:
    /// the caller wakes the engine with `advance_to` then.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first()
    }

    /// Moves time forward to `now`, processing every deadline due up to it, each at its own
    /// instant (SPEC R18). An earlier `now` is ignored: time never goes back.
    pub fn advance_to(&mut self, now: Timestamp) -> Vec<Event> {
        while let Some((at, deadline)) = self.deadlines.pop_due(now) {
            self.now = self.now.max(at);
            self.on_deadline(deadline);
            self.route_dirty();
        }
        self.now = self.now.max(now);
        std::mem::take(&mut self.events)
    }

    /// Advances to `now`, then applies `command`; the events include those of the deadlines
    /// processed on the way. A refused command changes nothing; the events of deadlines that
    /// fell due meanwhile are then returned by the next `apply` or `advance_to`.
    pub fn apply(&mut self, command: Command, now: Timestamp) -> Result<Applied> {
        self.apply_by(command, now, None)
    }

    /// [`Engine::apply`] on behalf of `by` (SPEC R28): the history entries the command itself
    /// causes carry its name; those of the routing that follows, and of deadlines, do not.
    pub fn apply_by(
        &mut self,
        command: Command,
        now: Timestamp,
        by: Option<&str>,
    ) -> Result<Applied> {
        let earlier = self.advance_to(now);
        self.actor = by.map(str::to_owned);
        let dispatched = self.dispatch(command);
        self.actor = None;
        let created = match dispatched {
            Ok(created) => created,
            Err(e) => {
                // Nothing of the command happened; what time did stays pending for the next call.
                self.events = earlier;
                return Err(e);
            }
        };
        self.route_dirty();
        // Hand out the buffer the command filled (one allocation per command, no copy).
        let mut events = std::mem::take(&mut self.events);
        if !earlier.is_empty() {
            events.splice(0..0, earlier);
        }
        Ok(Applied { events, created })
    }

    fn dispatch(&mut self, command: Command) -> Result<bool> {
        match command {
            Command::PutAgent { id, profile } => self.put_agent(id, profile),
            Command::PutGroup { id, settings } => self.put_group(id, settings),
            Command::PutChannel { id, settings } => self.put_channel(id, settings),
            Command::Signals { signals } => self.signals(signals).map(|()| false),
            Command::OpenConversation {
                channel,
                id,
                customer,
                with_message,
            } => self.open_conversation(channel, id, customer, with_message),
            Command::Message {
                conversation,
                from,
                agent,
            } => self.message(&conversation, from, agent).map(|()| false),
            Command::Accept {
                conversation,
                agent,
            } => self.accept(&conversation, &agent).map(|()| false),
            Command::Decline {
                conversation,
                agent,
            } => self.decline(&conversation, &agent).map(|()| false),
            Command::Transfer { conversation, to } => {
                self.transfer(&conversation, to).map(|()| false)
            }
            Command::Close { conversation } => self.close(&conversation).map(|()| false),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model_test;
