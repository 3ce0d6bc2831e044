//! Fixtures on the real plugins (the bundled sources, linked through `openline-server`): an
//! engine whose agents each have a messenger session that times out at its own instant, and
//! a command log as the server writes it, for replay.

use std::time::Duration;

use openline_core::engine::Plugins;
use openline_core::test_util::{signal, t};
use openline_core::{AgentId, AgentProfile, ChannelSettings, Command, Engine, Timestamp};

use crate::{CHANNEL, agent_id};

/// The messenger heartbeat timeout of these fixtures (the plugin's default).
pub const HEARTBEAT_TIMEOUT_MS: i64 = 120_000;

/// Every bundled source and built-in policy, with default settings.
pub fn plugins() -> Result<Plugins, String> {
    let registry = openline_server::registry().map_err(|e| e.to_string())?;
    Plugins::from_registry(&registry, |_| serde_json::Value::Null).map_err(|e| e.to_string())
}

/// The channel of the fixtures on the real plugins: "Website chat", the availability check on,
/// every bundled source, `policy` over `queue`, no chat limit, offers waiting `offer_timeout`.
pub fn website_chat(policy: &str, queue: Vec<AgentId>, offer_timeout: Duration) -> ChannelSettings {
    ChannelSettings {
        name: "Website chat".into(),
        check_availability: true,
        sources: ["hr", "timesheet", "messenger", "mobile", "browser"]
            .map(String::from)
            .to_vec(),
        policy: policy.into(),
        queue,
        max_chats: None,
        offer_timeout,
    }
}

/// An instant `millis` after the fixtures' epoch.
pub fn at(millis: i64) -> Timestamp {
    t(0) + openline_core::time::TimeDelta::milliseconds(millis)
}

/// The commands that set up `agents` agents in one channel (all five sources, policy
/// `policy`, no chat limit), agent `i` opening the messenger at `i` ms: so each has one
/// pending deadline, the heartbeat timeout at `HEARTBEAT_TIMEOUT_MS + i` ms.
pub fn setup_commands(agents: usize, policy: &str) -> Vec<(Timestamp, Command)> {
    let ids: Vec<String> = (0..agents).map(agent_id).collect();
    let mut commands = vec![(
        at(0),
        Command::PutChannel {
            id: crate::id(CHANNEL),
            settings: website_chat(
                policy,
                ids.iter().map(|id| crate::id(id.as_str())).collect(),
                Duration::from_secs(120),
            ),
        },
    )];
    for id in &ids {
        let profile = AgentProfile {
            name: id.clone(),
            groups: vec!["support".into()],
            timezone: None,
        };
        commands.push((
            at(0),
            Command::PutAgent {
                id: crate::id(id.as_str()),
                profile,
            },
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        let now = at(i as i64);
        let open = signal(id, "messenger", "open", now, serde_json::Value::Null);
        commands.push((
            now,
            Command::Signals {
                signals: vec![open],
            },
        ));
    }
    commands
}

/// A fresh engine on the real plugins with `commands` applied (each at its instant).
pub fn engine_from(commands: &[(Timestamp, Command)]) -> Result<Engine, String> {
    let mut engine = Engine::new(plugins()?, t(0));
    for (now, command) in commands {
        engine.advance_to(*now);
        engine
            .apply(command.clone(), *now)
            .map_err(|e| e.to_string())?;
    }
    Ok(engine)
}

/// A command log as the server stores it (instant, JSON), `records` long: the setup of
/// `agents` agents, then conversations arriving, accepted and closed, and presence
/// heartbeats, in a realistic mix.
pub fn log(agents: usize, records: usize) -> Result<Vec<(Timestamp, String)>, String> {
    let mut log: Vec<(Timestamp, Command)> = setup_commands(agents, "evenly");
    let start = agents as i64;
    let mut n = 3usize; // the first close (n % 4 == 3) comes after the first open (n = 4)
    while log.len() < records {
        n += 1;
        let now = at(start + n as i64);
        let id: openline_core::ConversationId = crate::id(&format!("c-{n}"));
        let agent = agent_id(n % agents);
        let command = match n % 4 {
            0 => Command::OpenConversation {
                channel: crate::id(CHANNEL),
                id,
                customer: format!("customer-{n}"),
                with_message: true,
            },
            1 => Command::Signals {
                signals: vec![signal(
                    &agent,
                    "messenger",
                    "heartbeat",
                    now,
                    serde_json::Value::Null,
                )],
            },
            2 => Command::Signals {
                signals: vec![signal(
                    &agent,
                    "browser",
                    "activity",
                    now,
                    serde_json::Value::Null,
                )],
            },
            _ => Command::Close {
                conversation: crate::id(&format!("c-{}", n - 3)),
            },
        };
        log.push((now, command));
    }
    log.truncate(records);
    log.into_iter()
        .map(|(at, command)| {
            serde_json::to_string(&command)
                .map(|json| (at, json))
                .map_err(|e| e.to_string())
        })
        .collect()
}
