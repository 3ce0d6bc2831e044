//! # openline-core
//!
//! The pure heart of openline: domain types, the availability verdict algebra (SPEC R3),
//! the [`AvailabilitySource`] and [`RoutingPolicy`] plugin traits, the plugin registry,
//! the six built-in routing policies (SPEC R11) and the routing [`Engine`].
//!
//! Nothing in this crate does I/O or reads a clock: every operation takes the instant it
//! happens at, so the same commands always produce the same events. The server is the shell
//! around it (HTTP, store, timers).

pub mod engine;
pub mod id;
pub mod keymap;
pub mod model;
pub mod policies;
pub mod policy;
pub mod presence;
pub mod registry;
pub mod settings;
pub mod source;
pub mod text;
pub mod time;
pub mod typed;
pub mod verdict;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use engine::{Command, Engine, EngineError, Event};
pub use model::{
    AgentId, AgentProfile, Author, ChannelId, ChannelSettings, Conversation, ConversationId,
    ConversationState, GroupSettings, HistoryEntry, HistoryEvent, ReasonCode,
};
pub use policy::{AgentKey, AgentStats, RoutingPolicy};
pub use registry::{PluginError, PolicyDescriptor, Registry, SourceDescriptor};
pub use source::{AgentContext, AvailabilitySource, GroupSetting, Signal, SignalError};
pub use time::Timestamp;
pub use typed::{Source, TypedSource};
pub use verdict::{Availability, Verdict, VerdictKind, combine};

/// Re-exported so plugin crates can register with `openline_core::inventory::submit!`
/// without naming `inventory` themselves.
pub use inventory;
