//! # openline-browser — the `browser` availability source (SPEC R8)
//!
//! Browser presence: the agent is **online** while a tab is open and the agent is active in
//! it, **offline** after an idle timeout without activity or once the last tab is closed.
//! This source never blocks nor grants.
//!
//! ## Events (`"source": "browser"`, no extra fields)
//! - `activity` — the agent did something in a tab; the first one also means "tab open".
//!   Online until the activity's instant plus the agent's idle timeout.
//! - `close` — the last tab was closed: offline at once.
//!
//! Before the agent's browser has sent anything the verdict is `offline`
//! ("no browser session seen").
//!
//! ## Settings (`[plugins.browser]`)
//! - `idle_timeout` (humantime string, default `"15m"`, must be longer than zero).
//!
//! The timeout per agent is the shortest *session lifetime (minutes)* among the agent's user
//! groups that have one (`PUT /v1/groups/{group}`), else `idle_timeout`. A lifetime of `0`
//! is treated as "none" (it would make the browser useless for the group). Group settings
//! are read at every verdict: a changed lifetime applies as soon as the engine re-evaluates
//! the agent.
//!
//! ## Boundaries (default timeout)
//! Latest `activity` at L: online at L+899 s with `until = L+900 s`, offline at L+900 s
//! (`until = None`).
//!
//! ## Out-of-order signals
//! The source keeps, per agent, the instant of the last signal applied. An older signal is
//! validated, accepted and ignored: an older `activity` never shortens the online window nor
//! reopens a closed browser. Signals at the same instant apply in arrival order.

use std::time::Duration;

use openline_core::presence;
use openline_core::settings;
use openline_core::source::{AgentContext, GroupSetting, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "browser";

/// The events the `browser` source accepts.
pub const EVENTS: &[&str] = &["activity", "close"];

/// `[plugins.browser]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrowserSettings {
    /// Offline after this long without activity, for agents whose groups set no session
    /// lifetime (default 15 minutes).
    #[serde(deserialize_with = "settings::positive_duration")]
    pub idle_timeout: Duration,
}

impl BrowserSettings {
    /// Default `idle_timeout` (SPEC R8): fifteen minutes.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
}

impl Default for BrowserSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The `browser` source: tab activity (SPEC R8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSource {
    /// The idle timeout of agents whose groups set no session lifetime.
    default_timeout: Duration,
}

/// One agent's browser, as its signals tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    /// Open; the latest activity came at this instant.
    Active(Timestamp),
    /// The last tab closed at this instant.
    Closed(Timestamp),
}

impl Tab {
    /// The instant of the signal that led here.
    fn at(self) -> Timestamp {
        match self {
            Self::Active(at) | Self::Closed(at) => at,
        }
    }
}

/// The group setting this source reads: the browser session lifetime of a user group.
pub const SESSION_LIFETIME_MINUTES: &str = "session_lifetime_minutes";

/// The longest session lifetime a group may set: one week, in minutes.
pub const MAX_SESSION_LIFETIME_MINUTES: u64 = 7 * 24 * 60;

const GROUP_SETTINGS: &[GroupSetting] = &[GroupSetting {
    key: SESSION_LIFETIME_MINUTES,
    summary: "browser idle timeout for the group's agents, in whole minutes",
    check: check_session_lifetime,
}];

/// A session lifetime is a whole number of minutes from 1 to a week.
fn check_session_lifetime(value: &serde_json::Value) -> Result<(), String> {
    match value.as_u64() {
        Some(minutes) if (1..=MAX_SESSION_LIFETIME_MINUTES).contains(&minutes) => Ok(()),
        _ => Err(format!(
            "must be a whole number of minutes from 1 to {MAX_SESSION_LIFETIME_MINUTES} \
             (or null for the default), not {value}"
        )),
    }
}

impl BrowserSource {
    /// The idle timeout for `agent` and why: the shortest session lifetime among its groups
    /// (with the group's name), else the configured default.
    pub fn idle_timeout<'a>(&self, agent: &AgentContext<'a>) -> (Duration, Option<&'a str>) {
        agent
            .group_values(SESSION_LIFETIME_MINUTES)
            .filter_map(|(group, value)| {
                let minutes = value.as_u64().filter(|m| *m > 0)?;
                Some((Duration::from_secs(minutes.saturating_mul(60)), group))
            })
            .min_by_key(|(lifetime, _)| *lifetime)
            .map_or((self.default_timeout, None), |(lifetime, group)| {
                (lifetime, Some(group))
            })
    }
}

/// A timeout for humans: "15 min", or "90 s" when not whole minutes.
fn minutes(timeout: Duration) -> String {
    let seconds = timeout.as_secs();
    if seconds.is_multiple_of(60) {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

impl Source for BrowserSource {
    type Settings = BrowserSettings;
    type State = Tab;
    const EVENTS: &'static [&'static str] = EVENTS;

    /// Presence from the agent's own apps: an agent's credential may report every event
    /// for itself (SPEC R35d).
    fn agent_may_report(&self, _event: &str) -> bool {
        true
    }

    fn new(BrowserSettings { idle_timeout }: BrowserSettings) -> Self {
        Self {
            default_timeout: idle_timeout,
        }
    }

    fn group_settings(&self) -> &[GroupSetting] {
        GROUP_SETTINGS
    }

    fn verdict(&self, tab: Option<&Tab>, agent: &AgentContext<'_>, now: Timestamp) -> Verdict {
        match tab {
            None => presence::never_seen(NAME),
            Some(Tab::Closed(at)) => presence::closed(NAME, *at),
            Some(Tab::Active(last)) => {
                let (timeout, group) = self.idle_timeout(agent);
                let origin = match group {
                    Some(group) => format!("session lifetime of group `{group}`"),
                    None => "default".to_owned(),
                };
                presence::online_for(
                    now,
                    *last,
                    timeout,
                    &format!(
                        "browser last active at {} (idle timeout {}, {origin})",
                        clock_time(*last),
                        minutes(timeout)
                    ),
                )
            }
        }
    }

    fn apply(
        &self,
        tab: Option<&Tab>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Tab, SignalError> {
        let said = match signal.event.as_str() {
            "close" => Tab::Closed(signal.at),
            _ => Tab::Active(signal.at),
        };
        signal.only_fields(&[])?;
        // A signal older than the last one applied changes nothing.
        Ok(match tab {
            Some(tab) if signal.at < tab.at() => *tab,
            _ => said,
        })
    }
}

openline_core::register_source! {
    BrowserSource,
    name: NAME,
    summary: "browser presence: online until the idle timeout after the last activity",
    can_make_available: true,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::model::GroupSettings;
    use openline_core::test_util::Step::{Expect, OnlineUntil, Reason, ReasonHas, Send};
    use openline_core::test_util::Step::{Refused, RefusedWith};
    use openline_core::test_util::t;
    use openline_core::test_util::{UnderTest, assert_registered_source, assert_settings_refused};
    use openline_core::test_util::{assert_default_settings, assert_setting_refuses};
    use openline_core::typed::TypedSource;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn r8_before_any_signal_the_agent_is_offline() {
        BrowserSource::run(&[Expect(0, "offline"), Reason(0, "no browser session seen")]);
    }

    #[test]
    fn r8_activity_is_online_until_the_idle_timeout() {
        BrowserSource::run(&[
            Send("activity", 0),
            Expect(0, "online until 900"),
            Reason(
                0,
                "browser last active at 00:00:00 (idle timeout 15 min, default), offline at 00:15:00",
            ),
            OnlineUntil(900),
            Send("activity", 600),
            OnlineUntil(1500),
        ]);
    }

    #[test]
    fn r8_activity_after_the_timeout_brings_the_agent_back() {
        BrowserSource::run(&[
            Send("activity", 0),
            Expect(2000, "offline"),
            Send("activity", 2000),
            OnlineUntil(2900),
        ]);
    }

    #[test]
    fn r8_close_is_offline_at_once() {
        BrowserSource::run(&[
            Send("activity", 0),
            Send("close", 60),
            Expect(60, "offline"),
            Reason(60, "browser closed at 00:01:00"),
            Send("activity", 120),
            OnlineUntil(1020),
        ]);
    }

    #[test]
    fn r8_a_group_session_lifetime_replaces_the_default() {
        let mut w = BrowserSource::world(Value::Null);
        w.group("support", lifetime(Some(30)));
        w.play(&[
            Send("activity", 0),
            OnlineUntil(1800),
            ReasonHas(
                0,
                "idle timeout 30 min, session lifetime of group `support`",
            ),
        ]);
    }

    #[test]
    fn r8_the_shortest_lifetime_among_the_agents_groups_wins() {
        let mut w = BrowserSource::world(Value::Null);
        w.group("no-lifetime", lifetime(None));
        w.group("long", lifetime(Some(60)));
        w.group("short", lifetime(Some(5)));
        w.group("zero-means-none", lifetime(Some(0)));
        w.play(&[
            Send("activity", 0),
            OnlineUntil(300),
            ReasonHas(0, "group `short`"),
        ]);
    }

    #[test]
    fn r8_groups_without_a_lifetime_or_unknown_fall_back_to_the_default() {
        let mut w = BrowserSource::world(json!({"idle_timeout": "10m"}));
        w.group("plain", lifetime(None));
        w.groups.push("not-in-directory".to_owned());
        w.play(&[Send("activity", 0), OnlineUntil(600)]);
    }

    #[test]
    fn r8_a_changed_lifetime_applies_at_the_next_verdict() {
        let mut w = BrowserSource::world(Value::Null);
        w.group("support", lifetime(Some(30)));
        w.play(&[Send("activity", 0), Expect(1000, "online until 1800")]);
        w.group("support", lifetime(Some(10)));
        // Shortened at run time.
        w.play(&[Expect(1000, "offline"), OnlineUntil(600)]);
        w.group("support", lifetime(None));
        w.play(&[OnlineUntil(900)]);
        w.groups.clear();
        w.group("night", lifetime(Some(20)));
        w.play(&[OnlineUntil(1200)]);
    }

    #[test]
    fn r8_out_of_order_signals_do_not_move_the_state_backwards() {
        BrowserSource::run(&[
            Send("activity", 100),
            Send("activity", 50),
            OnlineUntil(1000),
            Send("close", 200),
            Send("activity", 150),
            Expect(200, "offline"), // late activity does not reopen
            Send("activity", 300),
            Send("close", 250),
            OnlineUntil(1200),
            // Same instant: arrival order.
            Send("close", 300),
            Expect(300, "offline"),
        ]);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        BrowserSource::run(&[
            Send("activity", 0),
            Refused("open", 10, "activity, close"),
            RefusedWith("activity", 10, json!({"tab": 2}), "`tab`"),
        ]);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults = BrowserSettings {
            idle_timeout: Duration::from_secs(900),
        };
        assert_default_settings(NAME, &defaults);
        BrowserSource::world(json!({"idle_timeout": "90s"})).play(&[
            Send("activity", 0),
            OnlineUntil(90),
            ReasonHas(0, "idle timeout 90 s, default"),
        ]);
        let unknown = json!({"session_lifetime": "5m"});
        assert_settings_refused(NAME, &unknown, "`session_lifetime`");
        assert_setting_refuses(NAME, "idle_timeout", &[json!("soon"), json!("0s")]);
    }

    #[test]
    fn conformance() {
        BrowserSource::run(&[]).assert_conformance_before_and_after(&[Send("activity", 0)], t(60));
    }

    #[test]
    fn r8_the_session_lifetime_is_declared_as_a_group_setting_and_validated() {
        let browser = TypedSource::<BrowserSource>::from_settings(NAME, &Value::Null).unwrap();
        let declared = openline_core::AvailabilitySource::group_settings(&browser);
        assert_eq!(declared.len(), 1);
        assert_eq!(declared[0].key, "session_lifetime_minutes");
        for good in [
            json!(1),
            json!(30),
            json!(MAX_SESSION_LIFETIME_MINUTES),
            json!(10_080), // a week, in minutes
        ] {
            assert_eq!((declared[0].check)(&good), Ok(()), "{good}");
        }
        for bad in [
            json!(0),
            json!(-5),
            json!(1.5),
            json!("30"),
            json!(MAX_SESSION_LIFETIME_MINUTES + 1),
            json!(10_081),
        ] {
            let err = (declared[0].check)(&bad).unwrap_err();
            assert!(err.contains("whole number of minutes"), "{bad}: {err}");
        }
    }

    #[test]
    fn registers_itself_as_browser() {
        assert_registered_source(NAME, EVENTS);
    }

    /// A group's settings with this session lifetime.
    fn lifetime(minutes: Option<u32>) -> GroupSettings {
        [(SESSION_LIFETIME_MINUTES, json!(minutes))]
            .into_iter()
            .collect()
    }

    impl UnderTest for BrowserSource {
        const NAME: &'static str = NAME;
    }
}
