//! Model-based property test: random sequences of commands and time steps, with the
//! engine's invariants checked after every step, and a replay check (determinism, R19).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::model::{AgentProfile, Author, ChannelSettings, ConversationState};
use crate::test_util::{FixtureSource, signal, t};

const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
const CHANNELS: [&str; 2] = ["web", "mail"];
/// Every built-in policy, as registered (SPEC R11).
fn policies() -> Vec<&'static str> {
    crate::Registry::collect().unwrap().policy_names()
}
const VERDICTS: [&str; 5] = ["block", "grant", "online", "offline", "abstain"];

#[derive(Debug, Clone)]
enum Step {
    Signal {
        agent: usize,
        source: bool,
        verdict: usize,
        lasts: Option<u8>,
    },
    Open {
        channel: usize,
    },
    CustomerWrites {
        conversation: usize,
    },
    AgentWrites {
        conversation: usize,
        agent: usize,
    },
    /// The agent accepts (or declines) the conversation's offer.
    Answer {
        conversation: usize,
        agent: usize,
        accepts: bool,
    },
    Transfer {
        conversation: usize,
        to: Option<usize>,
    },
    Close {
        conversation: usize,
    },
    Advance {
        seconds: u16,
    },
    Reconfigure {
        channel: usize,
        check: bool,
        queue: Vec<usize>,
        max_chats: Option<u8>,
        policy: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let agent = 0..AGENTS.len();
    let conversation = 0..16usize;
    prop_oneof![
        4 => (agent.clone(), any::<bool>(), 0..VERDICTS.len(), proptest::option::of(1..200u8))
            .prop_map(|(agent, source, verdict, lasts)| Step::Signal { agent, source, verdict, lasts }),
        3 => (0..CHANNELS.len()).prop_map(|channel| Step::Open { channel }),
        1 => conversation.clone().prop_map(|conversation| Step::CustomerWrites { conversation }),
        1 => (conversation.clone(), agent.clone()).prop_map(|(conversation, agent)| Step::AgentWrites { conversation, agent }),
        4 => (conversation.clone(), agent.clone(), proptest::bool::weighted(0.75))
            .prop_map(|(conversation, agent, accepts)| Step::Answer { conversation, agent, accepts }),
        1 => (conversation.clone(), proptest::option::of(agent.clone())).prop_map(|(conversation, to)| Step::Transfer { conversation, to }),
        1 => conversation.prop_map(|conversation| Step::Close { conversation }),
        2 => (1..400u16).prop_map(|seconds| Step::Advance { seconds }),
        1 => (0..CHANNELS.len(), any::<bool>(), proptest::sample::subsequence(vec![0, 1, 2, 3], 0..=4),
              proptest::option::of(0..3u8), 0..policies().len())
            .prop_map(|(channel, check, queue, max_chats, policy)| Step::Reconfigure { channel, check, queue, max_chats, policy }),
    ]
}

fn new_plugins() -> Plugins {
    let mut plugins = Plugins::new().with_builtin_policies().unwrap();
    plugins.add_source("app", Box::new(FixtureSource::default()));
    plugins.add_source("hr", Box::new(FixtureSource::default()));
    plugins
}

fn new_engine() -> Engine {
    Engine::new(new_plugins(), t(0))
}

/// Feeds `log` to `engine`, each command at its instant; every event, in order.
fn feed(engine: &mut Engine, log: &[(Command, i64)]) -> Vec<Event> {
    let mut events = Vec::new();
    for (cmd, at) in log {
        events.extend(engine.advance_to(t(*at)));
        events.extend(engine.apply(cmd.clone(), t(*at)).unwrap().events);
    }
    events
}

fn settings(check: bool, queue: &[usize], max_chats: Option<u8>, policy: usize) -> ChannelSettings {
    ChannelSettings {
        name: "channel".into(),
        check_availability: check,
        sources: vec!["app".into(), "hr".into()],
        policy: policies()[policy].into(),
        queue: queue
            .iter()
            .map(|a| AGENTS[*a].try_into().unwrap())
            .collect(),
        max_chats: max_chats.map(u32::from),
        offer_timeout: Duration::from_secs(120),
    }
}

/// The command for a step, or `None` for pure time steps.
fn command(step: &Step, now: i64, opened: usize) -> Option<Command> {
    let agent_id = |a: &usize| -> crate::AgentId { AGENTS[*a].try_into().unwrap() };
    let conv = |i: &usize| format!("c{}", i % opened.max(1)).try_into().unwrap();
    Some(match step {
        Step::Signal {
            agent,
            source,
            verdict,
            lasts,
        } => {
            let fields = match lasts {
                Some(s) => serde_json::json!({"until": t(now + i64::from(*s)).to_rfc3339()}),
                None => serde_json::Value::Null,
            };
            let source = if *source { "app" } else { "hr" };
            Command::Signals {
                signals: vec![signal(
                    AGENTS[*agent],
                    source,
                    VERDICTS[*verdict],
                    t(now),
                    fields,
                )],
            }
        }
        Step::Open { channel } => Command::OpenConversation {
            channel: CHANNELS[*channel].try_into().unwrap(),
            id: format!("c{opened}").try_into().unwrap(),
            customer: "cust".into(),
            with_message: true,
        },
        Step::CustomerWrites { conversation } => Command::Message {
            conversation: conv(conversation),
            from: Author::Customer,
            agent: None,
        },
        Step::AgentWrites {
            conversation,
            agent,
        } => Command::Message {
            conversation: conv(conversation),
            from: Author::Agent,
            agent: Some(AGENTS[*agent].try_into().unwrap()),
        },
        Step::Answer {
            conversation,
            agent,
            accepts,
        } => Command::answer(conv(conversation), agent_id(agent), *accepts),
        Step::Transfer { conversation, to } => Command::Transfer {
            conversation: conv(conversation),
            to: to.map(|a| AGENTS[a].try_into().unwrap()),
        },
        Step::Close { conversation } => Command::Close {
            conversation: conv(conversation),
        },
        Step::Advance { .. } => return None,
        Step::Reconfigure {
            channel,
            check,
            queue,
            max_chats,
            policy,
        } => Command::PutChannel {
            id: CHANNELS[*channel].try_into().unwrap(),
            settings: settings(*check, queue, *max_chats, *policy),
        },
    })
}

/// Every invariant the engine promises, checked on its observable state.
/// Follows each agent's open conversations through the events of one step, checking that no
/// offer takes an agent past its channel's `max_chats` at the moment it is made (R10).
fn follow_capacity(
    engine: &Engine,
    ledger: &mut HashMap<String, i64>,
    events: &[Event],
) -> Result<(), TestCaseError> {
    for event in events {
        match event {
            Event::Offered { agent, channel, .. } => {
                let count = ledger.entry(agent.to_string()).or_default();
                *count += 1;
                if let Some(max) = engine.channel(channel).unwrap().max_chats {
                    prop_assert!(
                        *count <= i64::from(max),
                        "{} offered past max_chats {} on {}",
                        agent,
                        max,
                        channel
                    );
                }
            }
            Event::OfferWithdrawn { agent, .. } | Event::Requeued { agent, .. } => {
                *ledger.entry(agent.to_string()).or_default() -= 1;
            }
            Event::Closed {
                agent: Some(agent), ..
            } => *ledger.entry(agent.to_string()).or_default() -= 1,
            _ => {}
        }
    }
    Ok(())
}

fn check_invariants(
    engine: &Engine,
    opened: usize,
    closed: &[bool],
    ledger: &HashMap<String, i64>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(engine.conversation_count(), opened, "nothing is lost");
    for state in [
        ConversationState::Queued,
        ConversationState::Offered,
        ConversationState::Accepted,
        ConversationState::Closed,
    ] {
        prop_assert_eq!(
            engine.conversations_in(state),
            engine.conversations().filter(|c| c.state == state).count(),
            "kept count of {:?} conversations (metrics)",
            state
        );
    }
    for channel in CHANNELS {
        if let Some(queue) = engine.queue(channel) {
            prop_assert_eq!(queue.len(), queue.count(), "queue length of {}", channel);
        }
    }
    for ch in &engine.channels {
        let marked = ch.members.iter().filter(|(_, m)| m.is_eligible()).count();
        prop_assert_eq!(
            ch.members.eligible_count(),
            marked,
            "eligible count of {}",
            ch.id
        );
    }
    let mut open_per_agent: HashMap<String, usize> = HashMap::new();
    for (index, conv) in engine.conversations().enumerate() {
        prop_assert_eq!(
            conv.state == ConversationState::Closed,
            closed[index],
            "closed only when closed: {:?}",
            conv
        );
        let waiting: Vec<String> = engine
            .queue(&conv.channel)
            .unwrap()
            .map(|c| c.id.to_string())
            .collect();
        let in_queue = waiting.contains(&conv.id.to_string());
        match conv.state {
            ConversationState::Queued => prop_assert!(
                in_queue && conv.agent.is_none() && conv.offered_to.is_empty(),
                "{:?}",
                conv
            ),
            ConversationState::Offered => prop_assert!(
                !in_queue && conv.agent.is_none() && !conv.offered_to.is_empty(),
                "{:?}",
                conv
            ),
            ConversationState::Accepted => prop_assert!(
                !in_queue && conv.agent.is_some() && conv.offered_to.is_empty(),
                "{:?}",
                conv
            ),
            ConversationState::Closed => {
                prop_assert!(!in_queue && conv.offered_to.is_empty(), "{:?}", conv)
            }
        }
        if conv.state == ConversationState::Closed {
            continue;
        }
        let settings = engine.channel(&conv.channel).unwrap();
        for agent in conv.offered_to.iter().chain(conv.agent.iter()) {
            *open_per_agent.entry(agent.to_string()).or_default() += 1;
            let explained = engine.explain(agent).unwrap();
            let here = explained.iter().find(|c| c.channel == conv.channel);
            let holds_by_r14b = conv.state == ConversationState::Accepted
                && conv.last_message_from == Some(Author::Agent);
            if !holds_by_r14b {
                prop_assert!(
                    here.is_some(),
                    "{} has {} but is not in the queue of {}",
                    agent,
                    conv.id,
                    conv.channel
                );
                if settings.check_availability {
                    prop_assert!(
                        here.is_some_and(|c| c.available),
                        "{} has {} while unavailable",
                        agent,
                        conv.id
                    );
                }
            }
        }
    }
    // Queue order is arrival order: ids are c0, c1, … in arrival order.
    for channel in CHANNELS {
        if let Some(queue) = engine.queue(channel) {
            let arrivals: Vec<usize> = queue.map(|c| c.id[1..].parse().unwrap()).collect();
            prop_assert!(
                arrivals.windows(2).all(|w| w[0] < w[1]),
                "queue out of order: {:?}",
                arrivals
            );
        }
    }
    // The capacity ledger kept from events matches the state.
    for agent in AGENTS {
        let from_events = ledger.get(agent).copied().unwrap_or(0);
        let from_state = open_per_agent.get(agent).copied().unwrap_or(0);
        prop_assert_eq!(
            from_events,
            from_state as i64,
            "events and state disagree on {}'s open conversations",
            agent
        );
    }
    // Work conservation: a waiting conversation means no agent of its channel could take it.
    for channel in CHANNELS {
        let Some(settings) = engine.channel(channel) else {
            continue;
        };
        if engine.queue(channel).unwrap().next().is_none() {
            continue;
        }
        for agent in &settings.queue {
            let Some(explained) = engine.explain(agent) else {
                continue;
            };
            let available = explained
                .iter()
                .any(|c| c.channel.as_ref() == channel && c.available);
            let full = settings.max_chats.is_some_and(|m| {
                open_per_agent.get(agent.as_ref()).copied().unwrap_or(0) >= m as usize
            });
            prop_assert!(
                full || (settings.check_availability && !available),
                "{} waits on {} while {} could take it",
                channel,
                channel,
                agent
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants_hold_and_replay_is_exact(
        steps in proptest::collection::vec(step(), 1..60),
        split in any::<proptest::sample::Index>(),
    ) {
        let mut engine = new_engine();
        let mut log: Vec<(Command, i64)> = Vec::new();
        let mut now = 0i64;
        for id in AGENTS {
            let cmd = Command::PutAgent { id: id.try_into().unwrap(), profile: AgentProfile { name: (*id).into(), groups: vec![], timezone: None } };
            engine.apply(cmd.clone(), t(now)).unwrap();
            log.push((cmd, now));
        }
        for (i, channel) in CHANNELS.iter().enumerate() {
            let cmd = Command::PutChannel { id: (*channel).try_into().unwrap(), settings: settings(true, &[0, 1, 2, 3][i..], Some(2), 2) };
            engine.apply(cmd.clone(), t(now)).unwrap();
            log.push((cmd, now));
        }
        let mut opened = 0usize;
        let mut closed: Vec<bool> = Vec::new();
        let mut ledger: HashMap<String, i64> = HashMap::new();
        for step in &steps {
            let events = match step {
                Step::Advance { seconds } => {
                    now += i64::from(*seconds);
                    engine.advance_to(t(now))
                }
                _ => {
                    let Some(cmd) = command(step, now, opened) else { continue };
                    if matches!(step, Step::Close { .. } | Step::Open { .. } | Step::Transfer { .. } | Step::Answer { .. } | Step::CustomerWrites { .. } | Step::AgentWrites { .. }) && opened == 0 && !matches!(step, Step::Open { .. }) {
                        continue;
                    }
                    match engine.apply(cmd.clone(), t(now)) {
                        Ok(applied) => {
                            if let Step::Open { .. } = step {
                                opened += 1;
                                closed.push(false);
                            }
                            if let Command::Close { conversation } = &cmd {
                                closed[conversation[1..].parse::<usize>().unwrap()] = true;
                            }
                            log.push((cmd, now));
                            applied.events
                        }
                        Err(_) => Vec::new(),
                    }
                }
            };
            follow_capacity(&engine, &mut ledger, &events)?;
            check_invariants(&engine, opened, &closed, &ledger)?;
        }
        // Replay (SPEC R19): the same accepted commands at the same instants rebuild the same state.
        let mut replayed = new_engine();
        feed(&mut replayed, &log);
        replayed.advance_to(t(now));
        // Snapshot + tail (SPEC R21a): a snapshot taken after any prefix of the log, restored
        // from its JSON and fed the rest, behaves as the engine it was taken from, event for
        // event, and ends in the state full replay gives.
        let (head, tail) = log.split_at(split.index(log.len() + 1));
        let mut taken = new_engine();
        feed(&mut taken, head);
        let json = serde_json::to_string(&taken.snapshot()).unwrap();
        let mut resumed = Engine::restore(new_plugins(), serde_json::from_str(&json).unwrap()).unwrap();
        prop_assert_eq!(resumed.snapshot(), taken.snapshot());
        prop_assert_eq!(feed(&mut resumed, tail), feed(&mut taken, tail));
        prop_assert_eq!(resumed.advance_to(t(now)), taken.advance_to(t(now)));
        prop_assert_eq!(resumed.snapshot(), replayed.snapshot());
        let original: Vec<_> = engine.conversations().cloned().collect();
        let rebuilt: Vec<_> = replayed.conversations().cloned().collect();
        prop_assert_eq!(original, rebuilt);
        for agent in AGENTS {
            prop_assert_eq!(engine.explain(agent), replayed.explain(agent));
        }
    }
}
