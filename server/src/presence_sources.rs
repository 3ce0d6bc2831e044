//! Presence sources declared in the configuration file, no code (SPEC R34,
//! API.md "Config-defined presence sources"):
//!
//! ```toml
//! [[presence_sources]]
//! name = "teams"
//! online = ["available", "busy"]   # online from this event on (and the timeout restarts)
//! offline = ["away", "offline"]    # offline at once
//! timeout = "10m"                  # optional: offline this long after the last online event
//! ```
//!
//! Each becomes a source like any bundled one: channels list it in `sources`, signals name it
//! in `source`, `GET /v1/plugins` lists it. It answers only `online` or `offline` (so an agent
//! it leaves unavailable has the R14 code `offline`) and follows the presence boundary
//! convention: with a timeout, online at `last + timeout - 1s` and offline at
//! `last + timeout`. A signal older than the last one applied is accepted and ignored.

use std::time::Duration;

use openline_core::presence;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::{Source, TypedSource};
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// One `[[presence_sources]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSourceConfig {
    /// The source's name, as channels and signals use it.
    pub name: String,
    /// Events that make the agent online (and restart the timeout).
    pub online: Vec<String>,
    /// Events that make the agent offline at once.
    #[serde(default)]
    pub offline: Vec<String>,
    /// Offline this long after the last online event; absent = online until an offline event.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

impl PresenceSourceConfig {
    /// What is wrong with this entry, as `(key, message)` with the key relative to the entry
    /// (`name`, `online`, `offline`, `timeout`). `taken` says whether a name is already used.
    pub fn problem(&self, taken: impl Fn(&str) -> bool) -> Option<(&'static str, String)> {
        let valid_name = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        if !valid_name(&self.name) {
            let message = format!(
                "`{}` is not a source name: use 1 to 64 lower-case letters, digits, `_` or `-`",
                self.name
            );
            return Some(("name", message));
        }
        if taken(&self.name) {
            let message = format!("a source named `{}` already exists", self.name);
            return Some(("name", message));
        }
        if self.online.is_empty() {
            return Some(("online", "list at least one event".to_owned()));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (key, events) in [("online", &self.online), ("offline", &self.offline)] {
            for event in events {
                if !valid_name(event) {
                    let message = format!(
                        "`{event}` is not an event name: use 1 to 64 lower-case letters, digits, `_` or `-`"
                    );
                    return Some((key, message));
                }
                if seen.contains(&event.as_str()) {
                    return Some((key, format!("event `{event}` is listed twice")));
                }
                seen.push(event);
            }
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Some((
                "timeout",
                "must be longer than zero (e.g. \"10m\")".to_owned(),
            ));
        }
        None
    }

    /// The source, erased as the engine uses it.
    pub fn build(&self) -> TypedSource<ConfigPresence> {
        TypedSource::new(&self.name, ConfigPresence::new(self.clone()))
    }

    /// One line for `openline plugins`.
    pub fn summary(&self) -> String {
        let timeout = match self.timeout {
            Some(t) => format!(
                ", offline {} after the last online event",
                humantime_serde::re::humantime::format_duration(t)
            ),
            None => String::new(),
        };
        format!(
            "config-defined presence: online on {}; offline on {}{timeout}",
            self.online.join("/"),
            if self.offline.is_empty() {
                "nothing".to_owned()
            } else {
                self.offline.join("/")
            },
        )
    }
}

/// A config-defined presence source (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPresence {
    config: PresenceSourceConfig,
}

/// What an agent's client last said: the event, whether it means online, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    event: String,
    online: bool,
    at: Timestamp,
}

impl Source for ConfigPresence {
    type Settings = PresenceSourceConfig;
    type State = Said;

    fn new(config: PresenceSourceConfig) -> Self {
        Self { config }
    }

    fn events(&self) -> Vec<&str> {
        let all = self.config.online.iter().chain(&self.config.offline);
        all.map(String::as_str).collect()
    }

    /// Presence, like the built-in presence sources: an agent's credential may report every
    /// event for itself (SPEC R35d).
    fn agent_may_report(&self, _event: &str) -> bool {
        true
    }

    fn apply(
        &self,
        said: Option<&Said>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Said, SignalError> {
        signal.only_fields(&[])?;
        if let Some(said) = said.filter(|s| signal.at < s.at) {
            return Ok(said.clone());
        }
        Ok(Said {
            online: self.config.online.contains(&signal.event),
            event: signal.event.clone(),
            at: signal.at,
        })
    }

    fn verdict(&self, said: Option<&Said>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        let name = &self.config.name;
        let Some(said) = said else {
            return presence::never_seen(name);
        };
        let what = format!("{name} said `{}` at {}", said.event, clock_time(said.at));
        match (said.online, self.config.timeout) {
            (false, _) => Verdict::offline(what),
            (true, None) => Verdict::online(what),
            (true, Some(timeout)) => presence::online_for(now, said.at, timeout, &what),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::test_util::Step::Send;
    use openline_core::test_util::{SourceProbe, t};
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;

    fn teams(timeout: Option<u64>) -> PresenceSourceConfig {
        PresenceSourceConfig {
            name: "teams".into(),
            online: vec!["available".into(), "busy".into()],
            offline: vec!["away".into(), "offline".into()],
            timeout: timeout.map(Duration::from_secs),
        }
    }

    fn probe(config: PresenceSourceConfig) -> SourceProbe<TypedSource<ConfigPresence>> {
        SourceProbe::new("teams", config.build())
    }

    #[test]
    fn r34_online_events_make_online_until_the_timeout_and_offline_events_at_once() {
        let mut w = probe(teams(Some(600)));
        assert_eq!(w.at(t(0)).reason, "no teams session seen");
        w.ok("available", t(0));
        w.assert_online_until(t(600));
        assert_eq!(
            w.at(t(0)).reason,
            "teams said `available` at 00:00:00, offline at 00:10:00"
        );
        w.ok("busy", t(300));
        w.assert_online_until(t(900));
        w.ok("away", t(400));
        let v = w.at(t(400));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "teams said `away` at 00:06:40");
    }

    #[test]
    fn r34_without_a_timeout_online_lasts_until_an_offline_event() {
        let mut w = probe(teams(None));
        w.ok("available", t(0));
        let v = w.at(t(1_000_000));
        assert_eq!((v.kind, v.until), (VerdictKind::Online, None));
        w.ok("offline", t(5));
        assert_eq!(w.at(t(5)).kind, VerdictKind::Offline);
    }

    #[test]
    fn r34_old_signals_never_move_the_state_backwards() {
        let mut w = probe(teams(Some(600)));
        w.ok("away", t(100));
        w.ok("available", t(50));
        assert_eq!(w.at(t(100)).kind, VerdictKind::Offline);
        w.ok("available", t(100));
        w.assert_online_until(t(700));
    }

    #[test]
    fn r20_unknown_events_and_fields_are_refused_listing_the_valid_events() {
        let mut w = probe(teams(None));
        let err = w.refused("dnd", t(0), Value::Null);
        assert_eq!(
            err,
            "unknown event `dnd` for source `teams`; valid events: available, busy, away, offline"
        );
        let err = w.refused("available", t(0), json!({"status": 1}));
        assert!(err.contains("`status`"), "{err}");
    }

    #[test]
    fn conformance() {
        let mut w = probe(teams(Some(60)));
        w.assert_conformance_before_and_after(&[Send("available", 0)], t(30));
    }

    #[test]
    fn r34_bad_declarations_are_named() {
        let free = |_: &str| false;
        let cases = [
            (
                PresenceSourceConfig {
                    name: "Teams!".into(),
                    ..teams(None)
                },
                "name",
                "not a source name",
            ),
            (
                PresenceSourceConfig {
                    online: vec![],
                    ..teams(None)
                },
                "online",
                "at least one",
            ),
            (
                PresenceSourceConfig {
                    offline: vec!["busy".into()],
                    ..teams(None)
                },
                "offline",
                "`busy` is listed twice",
            ),
            (
                PresenceSourceConfig {
                    online: vec!["".into()],
                    ..teams(None)
                },
                "online",
                "not an event name",
            ),
            (
                PresenceSourceConfig {
                    timeout: Some(Duration::ZERO),
                    ..teams(None)
                },
                "timeout",
                "longer than zero",
            ),
        ];
        for (config, key, needle) in cases {
            let (got_key, message) = config.problem(free).expect("refused");
            assert_eq!(got_key, key, "{message}");
            assert!(message.contains(needle), "{message}");
        }
        let (key, message) = teams(None).problem(|name| name == "teams").expect("clash");
        assert_eq!(
            (key, message.as_str()),
            ("name", "a source named `teams` already exists")
        );
        assert_eq!(teams(Some(60)).problem(free), None);
    }
}
