//! Rule tests for the engine (SPEC R1, R9–R17), driven through commands with fixture sources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;
use crate::model::{
    AgentProfile, Author, ChannelSettings, Conversation, ConversationState, HistoryEvent,
    ReasonCode,
};
use crate::test_util::{FixtureSource, signal, t};

/// A small world: sources `app` and `hr` are fixtures; built-in policies.
struct World {
    engine: Engine,
    now: i64,
}

impl World {
    fn new() -> Self {
        let mut plugins = Plugins::new().with_builtin_policies().unwrap();
        plugins.add_source("app", Box::new(FixtureSource::default()));
        plugins.add_source("hr", Box::new(FixtureSource::default()));
        Self {
            engine: Engine::new(plugins, t(0)),
            now: 0,
        }
    }

    fn run(&mut self, command: Command) -> Result<Applied> {
        self.engine.apply(command, t(self.now))
    }

    fn ok(&mut self, command: Command) -> Vec<Event> {
        self.run(command).unwrap().events
    }

    fn advance(&mut self, seconds: i64) -> Vec<Event> {
        self.now += seconds;
        self.engine.advance_to(t(self.now))
    }

    fn agents(&mut self, ids: &[&str]) {
        for id in ids {
            let profile = AgentProfile {
                name: id.to_uppercase(),
                groups: vec![],
                timezone: None,
            };
            self.ok(Command::PutAgent {
                id: (*id).try_into().unwrap(),
                profile,
            });
        }
    }

    fn settings(queue: &[&str], policy: &str) -> ChannelSettings {
        ChannelSettings {
            name: "Web".into(),
            check_availability: true,
            sources: vec!["app".into(), "hr".into()],
            policy: policy.into(),
            queue: queue.iter().map(|a| (*a).try_into().unwrap()).collect(),
            max_chats: None,
            offer_timeout: Duration::from_secs(120),
        }
    }

    fn channel(&mut self, id: &str, queue: &[&str], policy: &str) {
        self.put_channel(id, Self::settings(queue, policy));
    }

    fn put_channel(&mut self, id: &str, settings: ChannelSettings) {
        self.ok(Command::PutChannel {
            id: id.try_into().unwrap(),
            settings,
        });
    }

    fn patch(&mut self, id: &str, change: impl FnOnce(&mut ChannelSettings)) {
        let mut settings = self.engine.channel(id).unwrap().clone();
        change(&mut settings);
        self.put_channel(id, settings);
    }

    fn say(&mut self, agent: &str, source: &str, event: &str) -> Vec<Event> {
        let s = signal(agent, source, event, t(self.now), serde_json::Value::Null);
        self.ok(Command::Signals { signals: vec![s] })
    }

    fn online(&mut self, agent: &str) {
        self.say(agent, "app", "online");
    }

    fn open(&mut self, channel: &str, id: &str) -> Vec<Event> {
        self.ok(Command::OpenConversation {
            channel: channel.try_into().unwrap(),
            id: id.try_into().unwrap(),
            customer: "cust".into(),
            with_message: true,
        })
    }

    /// Agents `x` and `y` in the queue of `web` (strict order, check on), both online.
    fn x_and_y_online() -> Self {
        let mut w = Self::new();
        w.agents(&["x", "y"]);
        w.channel("web", &["x", "y"], "strict_order");
        w.online("x");
        w.online("y");
        w
    }

    fn decline(&mut self, id: &str, agent: &str) {
        self.ok(Command::Decline {
            conversation: id.try_into().unwrap(),
            agent: agent.try_into().unwrap(),
        });
    }

    fn accept(&mut self, id: &str, agent: &str) {
        self.ok(Command::Accept {
            conversation: id.try_into().unwrap(),
            agent: agent.try_into().unwrap(),
        });
    }

    fn message(&mut self, id: &str, from: Author, agent: Option<&str>) {
        self.ok(Command::Message {
            conversation: id.try_into().unwrap(),
            from,
            agent: agent.map(|a| a.try_into().unwrap()),
        });
    }

    fn conv(&self, id: &str) -> &crate::Conversation {
        self.engine.conversation(id).unwrap()
    }

    fn offered_to(&self, id: &str) -> Vec<String> {
        self.conv(id)
            .offered_to
            .iter()
            .map(|a| a.to_string())
            .collect()
    }

    fn state(&self, id: &str) -> ConversationState {
        self.conv(id).state
    }

    /// The first history entry of `event` in conversation `id`.
    fn first(&self, id: &str, event: HistoryEvent) -> crate::HistoryEntry {
        let history = &self.conv(id).history;
        history
            .iter()
            .find(|h| h.event == event)
            .cloned()
            .unwrap_or_else(|| panic!("no {event:?} in {history:?}"))
    }

    fn last_reason(&self, id: &str) -> Option<ReasonCode> {
        self.conv(id).history.back().and_then(|h| h.reason.clone())
    }

    fn queue(&self, channel: &str) -> Vec<String> {
        self.engine
            .queue(channel)
            .unwrap()
            .map(|c| c.id.to_string())
            .collect()
    }
}

#[test]
fn r1_check_on_skips_unavailable_agents() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    w.channel("web", &["x", "y"], "strict_order");
    w.online("y");
    w.open("web", "c1");
    assert_eq!(w.offered_to("c1"), ["y"]);
}

#[test]
fn r1_check_off_makes_every_queue_agent_eligible_and_toggles_at_once() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    w.open("web", "c1");
    assert_eq!(w.state("c1"), ConversationState::Queued);
    w.patch("web", |s| s.check_availability = false);
    assert_eq!(
        w.offered_to("c1"),
        ["x"],
        "R1 off: offline agent eligible, routed at once (R13)"
    );
}

#[test]
fn r1_explain_reports_what_routing_does_on_a_channel_with_the_check_off() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    let here = |w: &World| w.engine.explain("x").unwrap()[0].clone();
    let before = here(&w);
    assert!(!before.available, "check on, no signal: unavailable");
    assert_eq!(before.reason, Some(ReasonCode::OFFLINE));
    assert_eq!(before.since, Some(t(0)), "since joining the queue");

    w.now = 60;
    w.patch("web", |s| s.check_availability = false);
    w.open("web", "c1");
    assert_eq!(w.offered_to("c1"), ["x"], "R1 off: eligible");
    let off = here(&w);
    assert!(!off.check_availability);
    assert!(off.available, "what routing does: eligible, check off");
    assert_eq!(off.reason, None);
    assert!(!off.sources_available, "what the sources say is kept");
    assert_eq!(off.sources_reason, Some(ReasonCode::OFFLINE));

    w.now = 90;
    w.online("x");
    let online = here(&w);
    assert!(online.sources_available && online.available);
    assert_eq!(
        online.since,
        Some(t(90)),
        "since the sources' answer flipped"
    );
}

#[test]
fn r3_block_from_any_source_beats_online() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    w.online("x");
    w.say("x", "hr", "block");
    w.open("web", "c1");
    assert_eq!(w.state("c1"), ConversationState::Queued);
    let explained = w.engine.explain("x").unwrap();
    assert!(!explained[0].available);
    assert_eq!(explained[0].verdicts.len(), 2);
}

#[test]
fn r9_availability_is_per_channel_by_its_sources() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    let mut hr_only = World::settings(&["x"], "strict_order");
    hr_only.sources = vec!["hr".into()];
    w.put_channel("mail", hr_only);
    w.online("x");
    let explained = w.engine.explain("x").unwrap();
    let by_channel: Vec<(String, bool)> = explained
        .iter()
        .map(|c| (c.channel.to_string(), c.available))
        .collect();
    assert_eq!(by_channel, [("web".into(), true), ("mail".into(), false)]);
}

#[test]
fn r10_queue_is_fifo_and_a_returned_conversation_keeps_its_place() {
    let mut w = World::new();
    w.agents(&["x"]);
    let mut web = World::settings(&["x"], "strict_order");
    web.max_chats = Some(1);
    w.put_channel("web", web);
    w.online("x");
    w.open("web", "c1"); // offered to x, who is then full
    w.open("web", "c2");
    w.open("web", "c3");
    assert_eq!(w.queue("web"), ["c2", "c3"]);
    w.say("x", "app", "offline"); // c1 withdrawn, back in front
    assert_eq!(w.queue("web"), ["c1", "c2", "c3"]);
}

#[test]
fn r10_capacity_counts_offers_and_accepts_across_channels() {
    let mut w = World::new();
    w.agents(&["x"]);
    let mut web = World::settings(&["x"], "strict_order");
    web.max_chats = Some(2);
    w.put_channel("web", web.clone());
    w.put_channel("mail", web);
    w.online("x");
    w.open("web", "c1");
    w.accept("c1", "x");
    w.open("mail", "c2");
    assert_eq!(w.offered_to("c2"), ["x"]);
    w.open("web", "c3");
    assert_eq!(
        w.state("c3"),
        ConversationState::Queued,
        "2 open across channels = max_chats"
    );
    w.ok(Command::Close {
        conversation: "c1".try_into().unwrap(),
    });
    assert_eq!(
        w.offered_to("c3"),
        ["x"],
        "freed capacity routes at once (R13)"
    );
}

#[test]
fn r10_queue_may_name_an_agent_created_later() {
    let mut w = World::new();
    w.channel("web", &["later"], "strict_order");
    w.open("web", "c1");
    w.agents(&["later"]);
    w.online("later");
    assert_eq!(w.offered_to("c1"), ["later"]);
}

#[test]
fn r11_all_at_once_first_accept_wins_others_withdrawn() {
    let mut w = World::new();
    w.agents(&["x", "y", "z"]);
    w.channel("web", &["x", "y", "z"], "all_at_once");
    for a in ["x", "y", "z"] {
        w.online(a);
    }
    w.open("web", "c1");
    assert_eq!(w.offered_to("c1"), ["x", "y", "z"]);
    w.accept("c1", "y");
    assert_eq!(w.conv("c1").agent.as_deref(), Some("y"));
    assert!(w.conv("c1").offered_to.is_empty());
    let withdrawn = w
        .conv("c1")
        .history
        .iter()
        .filter(|h| h.event == HistoryEvent::OfferWithdrawn)
        .count();
    assert_eq!(withdrawn, 2);
    assert!(matches!(
        w.run(Command::Accept {
            conversation: "c1".try_into().unwrap(),
            agent: "x".try_into().unwrap()
        }),
        Err(EngineError::Conflict(_))
    ));
}

#[test]
fn r11_round_robin_rotates_after_the_last_agent_who_got_one() {
    let mut w = World::new();
    w.agents(&["x", "y", "z"]);
    w.channel("web", &["x", "y", "z"], "round_robin");
    for a in ["x", "y", "z"] {
        w.online(a);
    }
    let mut got = Vec::new();
    for i in 0..4 {
        let id = format!("c{i}");
        w.open("web", &id);
        got.push(w.offered_to(&id)[0].clone());
        w.ok(Command::Close {
            conversation: id.as_str().try_into().unwrap(),
        });
    }
    assert_eq!(got, ["x", "y", "z", "x"]);
}

#[test]
fn r11_evenly_prefers_the_agent_whose_last_reply_is_oldest() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    w.channel("web", &["x", "y"], "evenly");
    w.online("x");
    w.online("y");
    w.open("web", "c1");
    w.accept("c1", "x");
    w.message("c1", Author::Agent, Some("x"));
    w.ok(Command::Close {
        conversation: "c1".try_into().unwrap(),
    });
    w.advance(10);
    w.open("web", "c2");
    assert_eq!(w.offered_to("c2"), ["y"], "y never replied, x did");
}

#[test]
fn r12_offer_expires_exactly_at_the_timeout_and_moves_on() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    assert_eq!(w.engine.next_deadline(), Some(t(120)));
    w.advance(119);
    assert_eq!(w.offered_to("c1"), ["x"]);
    w.advance(1);
    assert_eq!(w.offered_to("c1"), ["y"]);
    let expired = w.first("c1", HistoryEvent::OfferExpired);
    assert_eq!(
        (expired.at, expired.reason.clone()),
        (t(120), Some(ReasonCode::OFFER_EXPIRED))
    );
}

#[test]
fn r12_decline_moves_on_and_a_new_round_starts_when_all_skipped() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    w.decline("c1", "x");
    assert_eq!(w.offered_to("c1"), ["y"]);
    w.decline("c1", "y");
    assert_eq!(
        w.offered_to("c1"),
        ["x"],
        "everyone skipped: skip list cleared, new round"
    );
}

#[test]
fn r12_accepting_a_conversation_not_offered_to_you_is_a_conflict() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    w.channel("web", &["x", "y"], "strict_order");
    w.online("x");
    w.open("web", "c1");
    let before = w.conv("c1").clone();
    let refused = w.run(Command::Accept {
        conversation: "c1".try_into().unwrap(),
        agent: "y".try_into().unwrap(),
    });
    assert!(
        matches!(refused, Err(EngineError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(w.conv("c1"), &before, "a refused command changes nothing");
}

#[test]
fn r13_an_agent_becoming_available_gets_the_waiting_conversation_at_once() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    w.open("web", "c1");
    let events = w.say("x", "app", "online");
    assert!(
        events.iter().any(|e| matches!(e, Event::Offered { .. })),
        "{events:?}"
    );
}

#[test]
fn r13_a_verdict_changing_by_itself_wakes_the_engine_exactly_then() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    let online_until = signal(
        "x",
        "app",
        "online",
        t(0),
        serde_json::json!({"until": t(300).to_rfc3339()}),
    );
    w.ok(Command::Signals {
        signals: vec![online_until],
    });
    w.open("web", "c1");
    w.accept("c1", "x");
    assert_eq!(w.engine.next_deadline(), Some(t(300)));
    w.advance(299);
    assert_eq!(w.state("c1"), ConversationState::Accepted);
    w.advance(1);
    assert_eq!(
        w.state("c1"),
        ConversationState::Queued,
        "R14c at exactly +300 s"
    );
    assert_eq!(w.conv("c1").history.back().unwrap().at, t(300));
}

#[test]
fn r14a_unaccepted_offer_returns_to_queue_and_goes_to_an_available_agent() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    w.channel("web", &["x", "y"], "strict_order");
    w.online("x");
    w.open("web", "c1");
    w.online("y");
    w.say("x", "app", "offline");
    assert_eq!(w.offered_to("c1"), ["y"]);
    let withdrawn = w.first("c1", HistoryEvent::OfferWithdrawn);
    assert_eq!(withdrawn.reason, Some(ReasonCode::OFFLINE));
}

#[test]
fn r14b_r15_agent_spoke_last_stays_until_the_customers_next_message() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    w.channel("web", &["x", "y"], "strict_order");
    w.online("x");
    w.open("web", "c1");
    w.accept("c1", "x");
    w.message("c1", Author::Agent, Some("x"));
    w.online("y");
    w.say("x", "app", "offline");
    assert_eq!(
        w.conv("c1").agent.as_deref(),
        Some("x"),
        "R14b: stays with the agent"
    );
    w.message("c1", Author::Customer, None);
    assert_eq!(
        w.offered_to("c1"),
        ["y"],
        "R15: back to the queue at the customer's message"
    );
    assert_eq!(w.conv("c1").agent, None);
}

#[test]
fn r14c_customer_spoke_last_returns_with_the_blocking_reason() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    w.online("x");
    w.open("web", "c1");
    w.accept("c1", "x");
    let block = signal(
        "x",
        "hr",
        "block",
        t(0),
        serde_json::json!({"code": "on_leave"}),
    );
    w.ok(Command::Signals {
        signals: vec![block],
    });
    assert_eq!(w.state("c1"), ConversationState::Queued);
    assert_eq!(
        w.last_reason("c1"),
        Some(ReasonCode::from_static("on_leave"))
    );
}

#[test]
fn r14_removed_from_queue_takes_offers_back() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    w.patch("web", |s| s.queue = vec!["y".try_into().unwrap()]);
    assert_eq!(w.offered_to("c1"), ["y"]);
    let withdrawn = w.first("c1", HistoryEvent::OfferWithdrawn);
    assert_eq!(withdrawn.reason, Some(ReasonCode::REMOVED_FROM_QUEUE));
}

#[test]
fn r16_check_off_never_takes_conversations_away_for_availability() {
    let mut w = World::new();
    w.agents(&["x"]);
    let mut web = World::settings(&["x"], "strict_order");
    web.check_availability = false;
    w.put_channel("web", web);
    w.open("web", "c1");
    w.accept("c1", "x");
    w.online("x");
    w.say("x", "app", "offline");
    w.message("c1", Author::Customer, None);
    assert_eq!(w.conv("c1").agent.as_deref(), Some("x"));
}

#[test]
fn r17_history_records_every_step_with_reasons() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    w.decline("c1", "x");
    w.accept("c1", "y");
    w.ok(Command::Transfer {
        conversation: "c1".try_into().unwrap(),
        to: None,
    });
    w.ok(Command::Close {
        conversation: "c1".try_into().unwrap(),
    });
    let steps: Vec<(HistoryEvent, Option<String>, Option<String>)> = w
        .conv("c1")
        .history
        .iter()
        .map(|h| {
            (
                h.event,
                h.agent.as_deref().map(String::from),
                h.reason.as_ref().map(|r| r.to_string()),
            )
        })
        .collect();
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        steps,
        [
            (HistoryEvent::Queued, None, None),
            (HistoryEvent::Offered, s("x"), None),
            (HistoryEvent::Declined, s("x"), s("declined")),
            (HistoryEvent::Offered, s("y"), None),
            (HistoryEvent::Accepted, s("y"), None),
            (HistoryEvent::Transferred, s("y"), s("transferred")),
            (HistoryEvent::Offered, s("x"), None),
            (HistoryEvent::OfferWithdrawn, s("x"), None),
            (HistoryEvent::Closed, None, None),
        ]
    );
}

#[test]
fn transfer_to_a_named_agent_offers_it_to_them() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    w.accept("c1", "x");
    w.ok(Command::Transfer {
        conversation: "c1".try_into().unwrap(),
        to: Some("y".try_into().unwrap()),
    });
    assert_eq!(w.offered_to("c1"), ["y"]);
    assert_eq!(w.conv("c1").agent, None);
}

#[test]
fn closing_twice_is_a_conflict_and_reopening_an_id_is_idempotent() {
    let mut w = World::new();
    w.channel("web", &[], "strict_order");
    w.open("web", "c1");
    let again = w.run(Command::OpenConversation {
        channel: "web".try_into().unwrap(),
        id: "c1".try_into().unwrap(),
        customer: "cust".into(),
        with_message: true,
    });
    assert_eq!(
        again.unwrap(),
        Applied {
            events: vec![],
            created: false
        }
    );
    assert_eq!(w.engine.conversation_count(), 1);
    w.ok(Command::Close {
        conversation: "c1".try_into().unwrap(),
    });
    assert!(matches!(
        w.run(Command::Close {
            conversation: "c1".try_into().unwrap()
        }),
        Err(EngineError::Conflict(_))
    ));
}

#[test]
fn r20_a_batch_with_one_bad_signal_changes_nothing() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    let good = signal("x", "app", "online", t(0), serde_json::Value::Null);
    let bad = signal("x", "app", "dance", t(0), serde_json::Value::Null);
    let refused = w.run(Command::Signals {
        signals: vec![good, bad],
    });
    match refused {
        Err(EngineError::Invalid(message)) => assert!(
            message.contains("signal [1]") && message.contains("dance"),
            "{message}"
        ),
        other => panic!("expected invalid, got {other:?}"),
    }
    assert!(!w.engine.explain("x").unwrap()[0].available);
}

#[test]
fn r20_unknown_plugins_and_duplicates_are_refused_naming_the_field() {
    let mut w = World::new();
    let mut bad = World::settings(&["x"], "fastest");
    let err = w
        .run(Command::PutChannel {
            id: "web".try_into().unwrap(),
            settings: bad.clone(),
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown policy `fastest`; registered: all_at_once"),
        "{err}"
    );
    bad.policy = "evenly".into();
    bad.sources.push("fax".into());
    let err = w
        .run(Command::PutChannel {
            id: "web".try_into().unwrap(),
            settings: bad.clone(),
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown source `fax`; registered: app, hr"),
        "{err}"
    );
    bad.sources.pop();
    bad.queue.push("x".try_into().unwrap());
    let err = w
        .run(Command::PutChannel {
            id: "web".try_into().unwrap(),
            settings: bad,
        })
        .unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
    assert!(w.engine.channel("web").is_none());
}

#[test]
fn r20_r24d_signals_for_unknown_agents_or_from_the_future_are_refused() {
    let mut w = World::new();
    let ghost = signal("ghost", "app", "online", t(0), serde_json::Value::Null);
    assert!(matches!(
        w.run(Command::Signals {
            signals: vec![ghost.clone()]
        }),
        Err(EngineError::NotFound { .. })
    ));
    w.agents(&["x"]);
    let ok = signal("x", "app", "online", t(0), serde_json::Value::Null);
    let err = w
        .run(Command::Signals {
            signals: vec![ok, ghost],
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "signal [1]: agent `ghost` not found");
    assert!(matches!(err.root(), EngineError::NotFound { .. }));
    let future = signal("x", "app", "online", t(6), serde_json::Value::Null);
    let err = w
        .run(Command::Signals {
            signals: vec![future],
        })
        .unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("more than 5 s in the future"),
        "{err}"
    );
}

#[test]
fn r24d_a_signal_up_to_five_seconds_ahead_counts_as_now() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    let until = t(60).to_rfc3339();
    let skewed = signal(
        "x",
        "app",
        "online",
        t(5),
        serde_json::json!({"until": until}),
    );
    w.ok(Command::Signals {
        signals: vec![skewed],
    });
    let explained = &w.engine.explain("x").unwrap()[0];
    assert!(explained.available, "accepted as now, not refused");
}

#[test]
fn a_block_code_is_reported_while_some_source_blocks_with_it() {
    let mut w = World::new();
    w.agents(&["x", "y"]);
    let code = ReasonCode::from_static("suspended");
    let block = signal(
        "x",
        "hr",
        "block",
        t(0),
        serde_json::json!({"code": "suspended"}),
    );
    w.ok(Command::Signals {
        signals: vec![block],
    });
    assert!(w.engine.is_blocked_with("x", &code));
    assert!(!w.engine.is_blocked_with("x", &ReasonCode::OFFLINE));
    assert!(!w.engine.is_blocked_with("y", &code));
    assert!(!w.engine.is_blocked_with("nobody", &code));
    let lifted = signal("x", "hr", "abstain", t(0), serde_json::Value::Null);
    w.ok(Command::Signals {
        signals: vec![lifted],
    });
    assert!(!w.engine.is_blocked_with("x", &code));
}

#[test]
fn r18_events_of_deadlines_are_not_lost_when_the_command_is_refused() {
    let mut w = World::x_and_y_online();
    w.open("web", "c1");
    w.now += 120; // the offer to x expires on the way to the refused command
    let refused = w.run(Command::Close {
        conversation: "nope".try_into().unwrap(),
    });
    assert!(matches!(refused, Err(EngineError::NotFound { .. })));
    let events = w.engine.advance_to(t(w.now));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Offered { agent, .. } if agent.as_ref() == "y")),
        "{events:?}"
    );
}

#[test]
fn r20_offer_timeouts_outside_one_second_to_one_day_are_refused() {
    let mut w = World::new();
    for seconds in [0, 86_401] {
        let mut settings = World::settings(&[], "evenly");
        settings.offer_timeout = Duration::from_secs(seconds);
        let err = w
            .run(Command::PutChannel {
                id: "web".try_into().unwrap(),
                settings,
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`offer_timeout_seconds`: must be between 1 and 86400"),
            "{err}"
        );
    }
    let mut settings = World::settings(&[], "evenly");
    settings.offer_timeout = Duration::from_secs(86_400);
    assert!(
        w.run(Command::PutChannel {
            id: "web".try_into().unwrap(),
            settings
        })
        .is_ok()
    );
}

#[test]
fn r17_a_block_whose_code_changes_is_explained_with_the_new_code() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.ok(Command::PutChannel {
        id: "web".try_into().unwrap(),
        settings: World::settings(&["x"], "strict_order"),
    });
    let block = |code: &str| Command::Signals {
        signals: vec![signal(
            "x",
            "hr",
            "block",
            t(0),
            serde_json::json!({"code": code}),
        )],
    };
    let reason = |w: &World| w.engine.explain("x").unwrap()[0].reason.clone();
    w.ok(block("on_leave"));
    assert_eq!(reason(&w), Some(ReasonCode::from_static("on_leave")));
    w.ok(block("dismissed"));
    assert_eq!(
        reason(&w),
        Some(ReasonCode::from_static("dismissed")),
        "still blocked, for another reason"
    );
}

/// A source that reads one group setting, `lifetime` (a whole number from 1 to 60).
#[derive(Debug, Clone, PartialEq)]
struct Reads;

impl crate::typed::Source for Reads {
    type Settings = crate::test_util::NoSettings;
    type State = ();
    const EVENTS: &'static [&'static str] = &["x"];
    fn new(_: Self::Settings) -> Self {
        Self
    }
    fn group_settings(&self) -> &[crate::source::GroupSetting] {
        &[crate::source::GroupSetting {
            key: "lifetime",
            summary: "minutes",
            check: |v| match v.as_u64() {
                Some(1..=60) => Ok(()),
                _ => Err("must be from 1 to 60".into()),
            },
        }]
    }
    fn apply(
        &self,
        _: Option<&()>,
        _: &crate::AgentContext<'_>,
        _: &crate::Signal,
    ) -> std::result::Result<(), crate::SignalError> {
        Ok(())
    }
    fn verdict(
        &self,
        _: Option<&()>,
        _: &crate::AgentContext<'_>,
        _: crate::Timestamp,
    ) -> crate::Verdict {
        crate::Verdict::abstain("")
    }
}

#[test]
fn r34_two_sources_may_not_declare_the_same_group_setting() {
    use crate::typed::TypedSource;
    let mut plugins = Plugins::new();
    plugins.add_source("one", Box::new(TypedSource::new("one", Reads)));
    assert!(plugins.check_group_setting_keys().is_ok());
    plugins.add_source("two", Box::new(TypedSource::new("two", Reads)));
    let err = plugins.check_group_setting_keys().unwrap_err();
    assert_eq!(
        err.to_string(),
        "group setting `lifetime` is registered twice"
    );
}

#[test]
fn r21d_an_offer_nobody_takes_cycles_for_days_within_a_bounded_history() {
    let mut w = World::new();
    w.agents(&["x"]);
    w.channel("web", &["x"], "strict_order");
    w.ok(Command::Signals {
        signals: vec![signal("x", "app", "online", t(0), serde_json::Value::Null)],
    });
    w.open("web", "c1");
    // Offer, expiry, new round: two entries every 120 s, for three days.
    for _ in 0..(3 * 24 * 30) {
        w.advance(120);
    }
    let c1 = w.engine.conversation("c1").unwrap();
    assert_eq!(c1.history.len(), Conversation::MAX_HISTORY);
    let total = c1.history.len() as u64 + c1.history_omitted;
    assert!(total > 4000, "{total} entries happened");
    assert_eq!(c1.history.back().unwrap().event, HistoryEvent::Offered);
    assert_eq!(c1.closed_at, None);
    w.ok(Command::Close {
        conversation: "c1".try_into().unwrap(),
    });
    let c1 = w.engine.conversation("c1").unwrap();
    assert_eq!(c1.history.len(), Conversation::MAX_HISTORY);
    assert_eq!(c1.history.back().unwrap().event, HistoryEvent::Closed);
    assert_eq!(c1.closed_at, Some(t(w.now)));
}

#[test]
fn r21d_the_history_keeps_the_latest_entries_and_counts_the_dropped_ones() {
    let mut conversation = Conversation {
        id: "c".try_into().unwrap(),
        channel: "web".try_into().unwrap(),
        customer: "k".into(),
        state: ConversationState::Queued,
        agent: None,
        offered_to: vec![],
        last_message_from: None,
        queued_at: t(0),
        history: Default::default(),
        history_omitted: 0,
        closed_at: None,
    };
    for second in 0..(Conversation::MAX_HISTORY as i64 + 5) {
        conversation.remember(crate::HistoryEntry {
            at: t(second),
            event: HistoryEvent::Offered,
            agent: None,
            reason: None,
            by: None,
        });
    }
    assert_eq!(conversation.history.len(), Conversation::MAX_HISTORY);
    assert_eq!(conversation.history_omitted, 5);
    assert_eq!(conversation.history[0].at, t(5), "the oldest went first");
}

#[test]
fn r21e_a_name_in_a_queue_costs_memory_only_while_a_queue_names_it() {
    let mut w = World::new();
    w.agents(&["x"]);
    let ghosts: Vec<String> = (0..1000).map(|i| format!("ghost-{i}")).collect();
    let mut queue: Vec<&str> = ghosts.iter().map(String::as_str).collect();
    queue.push("x");
    w.channel("web", &queue, "strict_order");
    assert_eq!(w.engine.agent_keys.len(), 1001);
    w.channel("web", &["x", "ghost-7"], "strict_order");
    assert_eq!(
        w.engine.agent_keys.len(),
        2,
        "x and the placeholder still named"
    );
    assert!(w.engine.agent_key("ghost-8").is_none());
    // A freed slot keeps nothing of its name, in memory or in a snapshot (issue #20).
    let snapshot = serde_json::to_string(&w.engine.snapshot()).unwrap();
    assert!(!snapshot.contains("ghost-500"), "{snapshot}");
    assert!(snapshot.contains("ghost-7"));
    assert!(
        w.engine
            .agents
            .iter()
            .all(|slot| !slot.id.starts_with("ghost-") || slot.id.as_str() == "ghost-7")
    );
    // A freed slot is reused: names come and go without the engine growing.
    w.channel("mail", &["ghost-8", "ghost-9"], "strict_order");
    assert_eq!(w.engine.agents.len(), 1001);
    // A placeholder that becomes an agent keeps working, in every queue that names it.
    w.agents(&["ghost-9"]);
    w.channel("mail", &["ghost-9"], "strict_order");
    assert!(
        w.engine.agent_key("ghost-9").is_some(),
        "agents are never forgotten"
    );
    assert!(w.engine.agent_key("ghost-8").is_none());
    assert_eq!(w.engine.explain("ghost-9").unwrap().len(), 1);
    w.channel("web", &["ghost-7"], "strict_order");
    assert!(
        w.engine.agent_profile("x").is_some(),
        "x is in no queue, still an agent"
    );
    w.channel("other", &["ghost-7"], "strict_order");
    w.channel("web", &["x"], "strict_order");
    assert!(
        w.engine.agent_key("ghost-7").is_some(),
        "still named by `other`"
    );
}

#[test]
fn r8_r34_group_settings_are_checked_against_what_the_sources_declare() {
    use crate::typed::TypedSource;
    let mut plugins = Plugins::new().with_builtin_policies().unwrap();
    plugins.add_source("reads", Box::new(TypedSource::new("reads", Reads)));
    let mut engine = Engine::new(plugins, t(0));
    assert_eq!(engine.group_setting_keys(), ["lifetime"]);
    let described = engine.plugins().describe_sources();
    assert_eq!(described.len(), 1);
    assert_eq!(
        (described[0].name, described[0].events.clone()),
        ("reads", vec!["x"])
    );
    assert_eq!(described[0].group_settings, [("lifetime", "minutes")]);
    let put = |engine: &mut Engine, body: serde_json::Value| {
        let settings: crate::GroupSettings = serde_json::from_value(body).unwrap();
        engine.apply(
            Command::PutGroup {
                id: "g".into(),
                settings,
            },
            t(0),
        )
    };
    let err = put(&mut engine, serde_json::json!({"lifetime": 0})).unwrap_err();
    assert_eq!(err.to_string(), "`lifetime`: must be from 1 to 60");
    let err = put(&mut engine, serde_json::json!({"colour": 1})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown group setting `colour`; valid: lifetime"
    );
    assert!(
        engine.group("g").is_none(),
        "a refused group changes nothing"
    );
    put(&mut engine, serde_json::json!({"lifetime": 30})).unwrap();
    assert_eq!(
        engine.group("g").unwrap().get("lifetime"),
        Some(&serde_json::json!(30))
    );
}

#[test]
fn the_builtin_policies_come_with_the_registry() {
    let plugins = Plugins::from_registry(&crate::Registry::collect().unwrap(), |_| {
        serde_json::Value::Null
    })
    .unwrap();
    assert_eq!(plugins.policy_names().len(), 6);
    assert!(plugins.policy_names().contains(&"evenly"));
}

#[test]
fn r19_a_group_logged_with_a_null_setting_still_replays() {
    use crate::typed::TypedSource;
    let mut plugins = Plugins::new().with_builtin_policies().unwrap();
    plugins.add_source("reads", Box::new(TypedSource::new("reads", Reads)));
    let mut engine = Engine::new(plugins, t(0));
    // As logs written before sources declared their group settings have it.
    let logged = r#"{"command":"put_group","id":"g","settings":{"lifetime":null}}"#;
    let command: Command = serde_json::from_str(logged).unwrap();
    engine.apply(command, t(0)).unwrap();
    assert_eq!(engine.group("g"), Some(&crate::GroupSettings::new()));
}

#[test]
fn r21b_closed_conversations_leave_memory_oldest_first_and_only_when_closed() {
    let mut w = World::x_and_y_online();
    for id in ["c1", "c2", "c3"] {
        w.open("web", id);
    }
    let close = |w: &mut World, id: &str| {
        w.ok(Command::Close {
            conversation: id.try_into().unwrap(),
        })
    };
    w.advance(10);
    close(&mut w, "c2");
    w.advance(10);
    close(&mut w, "c1");
    let ids = |due: Vec<Conversation>| -> Vec<String> {
        due.into_iter().map(|c| c.id.to_string()).collect()
    };
    assert_eq!(w.engine.closed_in_memory(), 2);
    assert!(
        w.engine.closed_before(t(10), 10).is_empty(),
        "closed at 10: not before 10"
    );
    assert_eq!(ids(w.engine.closed_before(t(15), 10)), ["c2"]);
    assert_eq!(ids(w.engine.closed_before(t(21), 10)), ["c2", "c1"]);
    assert_eq!(ids(w.engine.closed_before(t(21), 1)), ["c2"]);
    let forget: Vec<crate::ConversationId> = ["c2", "c3", "nope"]
        .map(|id| id.try_into().unwrap())
        .to_vec();
    assert_eq!(
        w.engine.forget_closed(&forget),
        1,
        "c3 is open, nope unknown"
    );
    assert!(w.engine.conversation("c2").is_none());
    assert_ne!(w.state("c3"), ConversationState::Closed);
    assert_eq!(w.engine.closed_in_memory(), 1);
    assert_eq!(w.engine.conversation_count(), 2);
    assert_eq!(ids(w.engine.closed_before(t(100), 10)), ["c1"]);
    // Routing goes on around the gap: a new conversation is offered as before.
    w.open("web", "c4");
    assert_eq!(w.state("c4"), ConversationState::Offered);
}

/// SPEC R28: history entries caused by a request carry its caller; the router's own
/// decisions (offers made by routing, withdrawals by a timeout) carry nobody.
#[test]
fn history_entries_name_who_caused_them() {
    let mut w = World::x_and_y_online();
    let open = Command::OpenConversation {
        channel: "web".try_into().unwrap(),
        id: "c1".try_into().unwrap(),
        customer: "cust".into(),
        with_message: true,
    };
    w.engine.apply_by(open, t(w.now), Some("widget")).unwrap();
    assert_eq!(
        w.first("c1", HistoryEvent::Queued).by.as_deref(),
        Some("widget")
    );
    assert_eq!(
        w.first("c1", HistoryEvent::Offered).by,
        None,
        "routing offered it"
    );

    let decline = Command::Decline {
        conversation: "c1".try_into().unwrap(),
        agent: "x".try_into().unwrap(),
    };
    w.engine
        .apply_by(decline, t(w.now), Some("x-phone"))
        .unwrap();
    assert_eq!(
        w.first("c1", HistoryEvent::Declined).by.as_deref(),
        Some("x-phone")
    );
    let offers: Vec<_> = w
        .conv("c1")
        .history
        .iter()
        .filter(|h| h.event == HistoryEvent::Offered)
        .collect();
    assert_eq!(offers.len(), 2, "offered to y next");
    assert_eq!(offers[1].by, None, "the next offer is the router's");

    w.advance(121);
    assert_eq!(
        w.first("c1", HistoryEvent::OfferExpired).by,
        None,
        "a timeout is nobody's"
    );

    // A plain `apply` is the router's (replay of records logged before `by` existed).
    let next = w.offered_to("c1");
    assert!(!next.is_empty(), "offered again after the timeout");
    w.accept("c1", &next[0]);
    assert_eq!(w.first("c1", HistoryEvent::Accepted).by, None);
}
