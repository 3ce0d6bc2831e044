//! Shared fixtures for openline's benchmarks (engines preloaded with many agents) and the
//! load generator [`loadgen`].

pub mod loadgen;
pub mod real;

use std::time::Duration;

use openline_core::engine::{Command, Engine, Plugins};
use openline_core::test_util::{FixtureSource, signal, t};
use openline_core::{AgentProfile, ChannelSettings, Timestamp};

/// The channel every fixture engine routes on.
pub const CHANNEL: &str = "web";

/// An instant `millis` milliseconds after the fixtures' epoch.
pub fn at_millis(millis: i64) -> Timestamp {
    t(0) + openline_core::time::TimeDelta::milliseconds(millis)
}

/// An engine with `agents` agents, all online (fixture source `app`, with `hr` abstaining),
/// in the queue of one channel with the availability check on, `policy` and `max_chats` 1.
pub fn engine_with_agents(agents: usize, policy: &str) -> Result<Engine, String> {
    let mut plugins = Plugins::new()
        .with_builtin_policies()
        .map_err(|e| e.to_string())?;
    plugins.add_source("app", Box::new(FixtureSource::default()));
    plugins.add_source("hr", Box::new(FixtureSource::default()));
    let mut engine = Engine::new(plugins, t(0));
    let ids: Vec<String> = (0..agents).map(agent_id).collect();
    let settings = ChannelSettings {
        name: "Website chat".into(),
        check_availability: true,
        sources: vec!["app".into(), "hr".into()],
        policy: policy.into(),
        queue: ids.iter().map(|id| crate::id(id.as_str())).collect(),
        max_chats: Some(1),
        offer_timeout: Duration::from_secs(120),
    };
    let apply = |engine: &mut Engine, command| {
        engine
            .apply(command, t(0))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    apply(
        &mut engine,
        Command::PutChannel {
            id: crate::id(CHANNEL),
            settings,
        },
    )?;
    for id in &ids {
        let profile = AgentProfile {
            name: id.clone(),
            groups: vec![],
            timezone: None,
        };
        apply(
            &mut engine,
            Command::PutAgent {
                id: crate::id(id.as_str()),
                profile,
            },
        )?;
    }
    let signals = ids
        .iter()
        .map(|id| signal(id, "app", "online", t(0), serde_json::Value::Null))
        .collect();
    apply(&mut engine, Command::Signals { signals })?;
    Ok(engine)
}

/// The id of fixture agent `index`.
pub fn agent_id(index: usize) -> String {
    format!("agent-{index:06}")
}

/// A typed id (agent, channel, conversation) the benchmarks make themselves: always valid, so
/// a refusal is a bug in the benchmark and stops it.
pub fn id<T>(text: &str) -> T
where
    T: for<'a> TryFrom<&'a str, Error = openline_core::id::IdError>,
{
    T::try_from(text).unwrap_or_else(|e| panic!("benchmark id `{text}`: {e}"))
}
