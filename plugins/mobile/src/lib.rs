//! # openline-mobile — the `mobile` availability source (SPEC R7)
//!
//! Mobile app presence: the agent is **online** while the app is open in the foreground and
//! still sending heartbeats, and for a grace period after the app went to the background;
//! **offline** otherwise. This source never blocks nor grants.
//!
//! ## Events (`"source": "mobile"`, no extra fields)
//! - `foreground` — the app is open on screen: online, counting from this instant; cancels
//!   any background countdown.
//! - `heartbeat` — a foreground app is still running: extends the online window. With no
//!   session (never seen, or closed before) it counts as `foreground`: the app evidently
//!   runs. In the background it changes nothing (it must not cancel the countdown).
//! - `background` — the app was collapsed: online for `background_grace` from this instant,
//!   then offline. A repeated `background` keeps the first instant (no extension).
//! - `close` — offline at once.
//!
//! Before the agent's app has sent anything the verdict is `offline`
//! ("no mobile session seen").
//!
//! ## Settings (`[plugins.mobile]`, humantime strings, each longer than zero)
//! - `background_grace` (default `"5m"`);
//! - `heartbeat_timeout` (default `"2m"`).
//!
//! ## Boundaries (defaults)
//! - `background` at T: online at T+299 s with `until = T+300 s`, offline at T+300 s.
//! - foreground, latest `foreground`/`heartbeat` at L: online at L+119 s with
//!   `until = L+120 s`, offline at L+120 s.
//!
//! Once offline, `until` is `None`: nothing changes without a new signal.
//!
//! ## Out-of-order signals
//! The source keeps, per agent, the instant of the last signal applied. An older signal is
//! validated, accepted and ignored: an older heartbeat never shortens the online window, an
//! older `foreground` never cancels a later `background`, nothing older than a `close`
//! reopens the app. Signals at the same instant apply in arrival order.

use std::time::Duration;

use openline_core::presence;
use openline_core::settings;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "mobile";

/// The events the `mobile` source accepts.
pub const EVENTS: &[&str] = &["foreground", "background", "heartbeat", "close"];

/// `[plugins.mobile]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MobileSettings {
    /// How long a backgrounded app keeps the agent online (default 5 minutes).
    #[serde(deserialize_with = "settings::positive_duration")]
    pub background_grace: Duration,
    /// A foreground app silent for this long is offline (default 2 minutes).
    #[serde(deserialize_with = "settings::positive_duration")]
    pub heartbeat_timeout: Duration,
}

impl MobileSettings {
    /// Default `background_grace` (SPEC R7): five minutes.
    pub const DEFAULT_BACKGROUND_GRACE: Duration = Duration::from_secs(300);
    /// Default `heartbeat_timeout` (SPEC R7): two minutes.
    pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(120);
}

impl Default for MobileSettings {
    fn default() -> Self {
        Self {
            background_grace: Self::DEFAULT_BACKGROUND_GRACE,
            heartbeat_timeout: Self::DEFAULT_HEARTBEAT_TIMEOUT,
        }
    }
}

/// The `mobile` source: app state (SPEC R7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MobileSource {
    settings: MobileSettings,
}

/// One agent's app, with the instant of the last signal applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    app: App,
    last_at: Timestamp,
}

/// The app's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum App {
    /// On screen; the latest `foreground`/`heartbeat` came at `last_seen`.
    Foreground { last_seen: Timestamp },
    /// Collapsed since this instant.
    Background(Timestamp),
    /// Closed at this instant.
    Closed(Timestamp),
}

impl Source for MobileSource {
    type Settings = MobileSettings;
    type State = Phone;
    const EVENTS: &'static [&'static str] = EVENTS;

    fn new(settings: MobileSettings) -> Self {
        Self { settings }
    }

    fn apply(
        &self,
        phone: Option<&Phone>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Phone, SignalError> {
        signal.only_fields(&[])?;
        if let Some(phone) = phone.filter(|p| signal.at < p.last_at) {
            return Ok(*phone);
        }
        let at = signal.at;
        let app = match (signal.event.as_str(), phone.map(|p| p.app)) {
            ("close", _) => App::Closed(at),
            ("background", Some(background @ App::Background(_))) => background,
            ("background", _) => App::Background(at),
            ("heartbeat", Some(background @ App::Background(_))) => background,
            // `foreground`, or a heartbeat from a foreground, closed or unknown app.
            _ => App::Foreground { last_seen: at },
        };
        Ok(Phone { app, last_at: at })
    }

    fn verdict(&self, phone: Option<&Phone>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        match phone.map(|p| p.app) {
            None => presence::never_seen(NAME),
            Some(App::Closed(at)) => presence::closed("mobile app", at),
            Some(App::Foreground { last_seen }) => presence::online_for(
                now,
                last_seen,
                self.settings.heartbeat_timeout,
                &format!(
                    "mobile app in foreground, last seen at {}",
                    clock_time(last_seen)
                ),
            ),
            Some(App::Background(since)) => presence::online_for(
                now,
                since,
                self.settings.background_grace,
                &format!("mobile app in background since {}", clock_time(since)),
            ),
        }
    }
}

openline_core::register_source! {
    MobileSource,
    name: NAME,
    summary: "mobile app presence: online in foreground, for a grace period in background",
    can_make_available: true,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::test_util::{SourceProbe, assert_source_conformance, t};
    use openline_core::test_util::{assert_registered_source, assert_settings_refused};
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;
    use openline_core::registry;
    use openline_core::typed::TypedSource;

    /// One agent, `alice`, and a `mobile` source with these settings.
    fn world(settings: Value) -> SourceProbe<TypedSource<MobileSource>> {
        SourceProbe::typed(NAME, &settings)
    }

    #[test]
    fn r7_before_any_signal_the_agent_is_offline() {
        let v = world(Value::Null).at(t(0));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "no mobile session seen");
    }

    #[test]
    fn r7_foreground_is_online_until_the_heartbeat_timeout() {
        let mut w = world(Value::Null);
        w.ok("foreground", t(0));
        let v = w.at(t(0));
        assert_eq!((v.kind, v.until), (VerdictKind::Online, Some(t(120))));
        assert_eq!(
            v.reason,
            "mobile app in foreground, last seen at 00:00:00, offline at 00:02:00"
        );
        w.assert_online_until(t(120));
    }

    #[test]
    fn r7_heartbeats_keep_a_foreground_app_online() {
        let mut w = world(Value::Null);
        w.ok("foreground", t(0));
        w.ok("heartbeat", t(60));
        w.assert_online_until(t(180));
        w.ok("heartbeat", t(179));
        w.assert_online_until(t(299));
    }

    #[test]
    fn r7_a_heartbeat_without_a_session_counts_as_foreground() {
        let mut w = world(Value::Null);
        w.ok("heartbeat", t(10));
        w.assert_online_until(t(130));
        w.ok("close", t(20));
        w.ok("heartbeat", t(30));
        w.assert_online_until(t(150));
    }

    #[test]
    fn r7_background_keeps_online_for_the_grace_period() {
        let mut w = world(Value::Null);
        w.ok("foreground", t(0));
        w.ok("background", t(100));
        let v = w.at(t(100));
        assert_eq!((v.kind, v.until), (VerdictKind::Online, Some(t(400))));
        assert_eq!(
            v.reason,
            "mobile app in background since 00:01:40, offline at 00:06:40"
        );
        w.assert_online_until(t(400));
        assert_eq!(
            w.at(t(400)).reason,
            "mobile app in background since 00:01:40, offline since 00:06:40"
        );
    }

    #[test]
    fn r7_background_grace_does_not_need_heartbeats_nor_extend_with_them() {
        let mut w = world(Value::Null);
        w.ok("background", t(0));
        w.assert_online_until(t(300));
        w.ok("heartbeat", t(250));
        w.assert_online_until(t(300));
        w.ok("background", t(260));
        w.assert_online_until(t(300));
    }

    #[test]
    fn r7_foreground_cancels_the_background_countdown() {
        let mut w = world(Value::Null);
        w.ok("background", t(0));
        w.ok("foreground", t(200));
        w.assert_online_until(t(320));
        w.ok("background", t(310));
        w.assert_online_until(t(610));
    }

    #[test]
    fn r7_close_is_offline_at_once() {
        let mut w = world(Value::Null);
        w.ok("background", t(0));
        w.ok("close", t(10));
        let v = w.at(t(10));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "mobile app closed at 00:00:10");
        w.ok("foreground", t(20));
        w.assert_online_until(t(140));
        w.ok("close", t(30));
        assert_eq!(w.at(t(30)).kind, VerdictKind::Offline);
    }

    #[test]
    fn r7_out_of_order_signals_do_not_move_the_state_backwards() {
        let mut w = world(Value::Null);
        w.ok("foreground", t(0));
        w.ok("heartbeat", t(100));
        w.ok("heartbeat", t(50));
        w.assert_online_until(t(220));
        w.ok("background", t(200));
        w.ok("foreground", t(150));
        w.assert_online_until(t(500));
        w.ok("close", t(300));
        w.ok("heartbeat", t(250));
        w.ok("background", t(299));
        assert_eq!(
            w.at(t(300)).kind,
            VerdictKind::Offline,
            "nothing older reopens"
        );
        // Same instant: arrival order.
        w.ok("foreground", t(300));
        w.assert_online_until(t(420));
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        let mut w = world(Value::Null);
        w.ok("background", t(0));
        let before = w.source.clone();
        let err = w
            .send("foreground", t(10), json!({"device": "ios"}))
            .unwrap_err();
        assert!(err.contains("`device`"), "{err}");
        let err = w.send("suspend", t(10), Value::Null).unwrap_err();
        assert!(
            err.contains("foreground, background, heartbeat, close"),
            "{err}"
        );
        assert_eq!(w.source, before);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults: MobileSettings = registry::settings(NAME, &Value::Null).unwrap();
        assert_eq!(defaults.background_grace, Duration::from_secs(300));
        assert_eq!(defaults.heartbeat_timeout, Duration::from_secs(120));
        assert_eq!(
            registry::settings::<MobileSettings>(NAME, &json!({})).unwrap(),
            defaults
        );

        let mut w = world(json!({"background_grace": "1m"}));
        w.ok("background", t(0));
        w.assert_online_until(t(60));
        w.ok("foreground", t(100));
        w.assert_online_until(t(220));

        let mut w = world(json!({"heartbeat_timeout": "30s", "background_grace": "10m"}));
        w.ok("foreground", t(0));
        w.assert_online_until(t(30));
        w.ok("background", t(40));
        w.assert_online_until(t(640));

        for (bad, needle) in [
            (json!({"grace": "5m"}), "`grace`"),
            (
                json!({"background_grace": "5 parsecs"}),
                "`background_grace`",
            ),
            (json!({"background_grace": "0m"}), "`background_grace`"),
            (json!({"heartbeat_timeout": "0s"}), "`heartbeat_timeout`"),
            (json!({"heartbeat_timeout": true}), "`heartbeat_timeout`"),
        ] {
            assert_settings_refused(NAME, &bad, needle);
        }
    }

    #[test]
    fn conformance() {
        let mut mobile = TypedSource::<MobileSource>::from_settings(NAME, &Value::Null).unwrap();
        assert_source_conformance(&mut mobile, t(0));
        let mut w = world(Value::Null);
        w.ok("background", t(0));
        assert_source_conformance(&mut w.source, t(60));
    }

    #[test]
    fn registers_itself_as_mobile() {
        assert_registered_source(NAME, EVENTS);
    }
}
