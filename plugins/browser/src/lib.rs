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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserSource {
    settings: BrowserSettings,
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
    summary: "browser idle timeout for the group's agents, in whole minutes (SPEC R8)",
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
            .map_or((self.settings.idle_timeout, None), |(lifetime, group)| {
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

    fn new(settings: BrowserSettings) -> Self {
        Self { settings }
    }

    fn group_settings(&self) -> &[GroupSetting] {
        GROUP_SETTINGS
    }

    fn apply(
        &self,
        tab: Option<&Tab>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Tab, SignalError> {
        signal.only_fields(&[])?;
        Ok(match tab {
            Some(tab) if signal.at < tab.at() => *tab,
            _ if signal.event == "close" => Tab::Closed(signal.at),
            _ => Tab::Active(signal.at),
        })
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
    use openline_core::test_util::{SourceProbe, assert_source_conformance, t};
    use openline_core::test_util::{assert_registered_source, assert_settings_refused};
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;
    use openline_core::registry;
    use openline_core::typed::TypedSource;

    /// One agent, `alice`, and a `browser` source with these settings.
    fn world(settings: Value) -> SourceProbe<TypedSource<BrowserSource>> {
        SourceProbe::typed(NAME, &settings)
    }

    /// A group's settings with this session lifetime.
    fn lifetime(minutes: Option<u32>) -> GroupSettings {
        [(SESSION_LIFETIME_MINUTES, json!(minutes))]
            .into_iter()
            .collect()
    }

    #[test]
    fn r8_before_any_signal_the_agent_is_offline() {
        let v = world(Value::Null).at(t(0));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "no browser session seen");
    }

    #[test]
    fn r8_activity_is_online_until_the_idle_timeout() {
        let mut w = world(Value::Null);
        w.ok("activity", t(0));
        let v = w.at(t(0));
        assert_eq!((v.kind, v.until), (VerdictKind::Online, Some(t(900))));
        assert_eq!(
            v.reason,
            "browser last active at 00:00:00 (idle timeout 15 min, default), offline at 00:15:00"
        );
        w.assert_online_until(t(900));
        w.ok("activity", t(600));
        w.assert_online_until(t(1500));
    }

    #[test]
    fn r8_activity_after_the_timeout_brings_the_agent_back() {
        let mut w = world(Value::Null);
        w.ok("activity", t(0));
        assert_eq!(w.at(t(2000)).kind, VerdictKind::Offline);
        w.ok("activity", t(2000));
        w.assert_online_until(t(2900));
    }

    #[test]
    fn r8_close_is_offline_at_once() {
        let mut w = world(Value::Null);
        w.ok("activity", t(0));
        w.ok("close", t(60));
        let v = w.at(t(60));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "browser closed at 00:01:00");
        w.ok("activity", t(120));
        w.assert_online_until(t(1020));
    }

    #[test]
    fn r8_a_group_session_lifetime_replaces_the_default() {
        let mut w = world(Value::Null);
        w.group("support", lifetime(Some(30)));
        w.ok("activity", t(0));
        w.assert_online_until(t(1800));
        assert!(
            w.at(t(0))
                .reason
                .contains("idle timeout 30 min, session lifetime of group `support`"),
            "{}",
            w.at(t(0)).reason
        );
    }

    #[test]
    fn r8_the_shortest_lifetime_among_the_agents_groups_wins() {
        let mut w = world(Value::Null);
        w.group("no-lifetime", lifetime(None));
        w.group("long", lifetime(Some(60)));
        w.group("short", lifetime(Some(5)));
        w.group("zero-means-none", lifetime(Some(0)));
        w.ok("activity", t(0));
        w.assert_online_until(t(300));
        assert!(w.at(t(0)).reason.contains("group `short`"));
    }

    #[test]
    fn r8_groups_without_a_lifetime_or_unknown_fall_back_to_the_default() {
        let mut w = world(json!({"idle_timeout": "10m"}));
        w.group("plain", lifetime(None));
        w.groups.push("not-in-directory".to_owned());
        w.ok("activity", t(0));
        w.assert_online_until(t(600));
    }

    #[test]
    fn r8_a_changed_lifetime_applies_at_the_next_verdict() {
        let mut w = world(Value::Null);
        w.group("support", lifetime(Some(30)));
        w.ok("activity", t(0));
        assert_eq!(w.at(t(1000)).kind, VerdictKind::Online);
        w.group("support", lifetime(Some(10)));
        assert_eq!(
            w.at(t(1000)).kind,
            VerdictKind::Offline,
            "shortened at run time"
        );
        w.assert_online_until(t(600));
        w.group("support", lifetime(None));
        w.assert_online_until(t(900));
        w.groups.clear();
        w.group("night", lifetime(Some(20)));
        w.assert_online_until(t(1200));
    }

    #[test]
    fn r8_out_of_order_signals_do_not_move_the_state_backwards() {
        let mut w = world(Value::Null);
        w.ok("activity", t(100));
        w.ok("activity", t(50));
        w.assert_online_until(t(1000));
        w.ok("close", t(200));
        w.ok("activity", t(150));
        assert_eq!(
            w.at(t(200)).kind,
            VerdictKind::Offline,
            "late activity does not reopen"
        );
        w.ok("activity", t(300));
        w.ok("close", t(250));
        w.assert_online_until(t(1200));
        // Same instant: arrival order.
        w.ok("close", t(300));
        assert_eq!(w.at(t(300)).kind, VerdictKind::Offline);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        let mut w = world(Value::Null);
        w.ok("activity", t(0));
        let before = w.source.clone();
        let err = w.send("activity", t(10), json!({"tab": 2})).unwrap_err();
        assert!(err.contains("`tab`"), "{err}");
        let err = w.send("open", t(10), Value::Null).unwrap_err();
        assert!(err.contains("activity, close"), "{err}");
        assert_eq!(w.source, before);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults: BrowserSettings = registry::settings(NAME, &Value::Null).unwrap();
        assert_eq!(defaults.idle_timeout, Duration::from_secs(900));
        assert_eq!(
            registry::settings::<BrowserSettings>(NAME, &json!({})).unwrap(),
            defaults
        );

        let mut w = world(json!({"idle_timeout": "90s"}));
        w.ok("activity", t(0));
        w.assert_online_until(t(90));
        assert!(w.at(t(0)).reason.contains("idle timeout 90 s, default"));

        for (bad, needle) in [
            (json!({"session_lifetime": "5m"}), "`session_lifetime`"),
            (json!({"idle_timeout": "soon"}), "`idle_timeout`"),
            (json!({"idle_timeout": "0s"}), "`idle_timeout`"),
        ] {
            assert_settings_refused(NAME, &bad, needle);
        }
    }

    #[test]
    fn conformance() {
        let mut browser = TypedSource::<BrowserSource>::from_settings(NAME, &Value::Null).unwrap();
        assert_source_conformance(&mut browser, t(0));
        let mut w = world(Value::Null);
        w.ok("activity", t(0));
        assert_source_conformance(&mut w.source, t(60));
    }

    #[test]
    fn r8_the_session_lifetime_is_declared_as_a_group_setting_and_validated() {
        let browser = TypedSource::<BrowserSource>::from_settings(NAME, &Value::Null).unwrap();
        let declared = openline_core::AvailabilitySource::group_settings(&browser);
        assert_eq!(declared.len(), 1);
        assert_eq!(declared[0].key, "session_lifetime_minutes");
        for good in [json!(1), json!(30), json!(MAX_SESSION_LIFETIME_MINUTES)] {
            assert_eq!((declared[0].check)(&good), Ok(()), "{good}");
        }
        for bad in [
            json!(0),
            json!(-5),
            json!(1.5),
            json!("30"),
            json!(MAX_SESSION_LIFETIME_MINUTES + 1),
        ] {
            let err = (declared[0].check)(&bad).unwrap_err();
            assert!(err.contains("whole number of minutes"), "{bad}: {err}");
        }
    }

    #[test]
    fn registers_itself_as_browser() {
        assert_registered_source(NAME, EVENTS);
    }
}
