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

impl Phone {
    /// The phone after `signal`, one of [`EVENTS`], from what it was (`None`: nothing heard
    /// yet). Fields are refused; a signal older than the last one applied changes nothing.
    fn after(phone: Option<Self>, signal: &Signal) -> Result<Self, SignalError> {
        signal.only_fields(&[])?;
        if let Some(phone) = phone.filter(|p| signal.at < p.last_at) {
            return Ok(phone);
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
        Ok(Self { app, last_at: at })
    }
}

impl Source for MobileSource {
    type Settings = MobileSettings;
    type State = Phone;
    const EVENTS: &'static [&'static str] = EVENTS;

    /// Presence from the agent's own apps: an agent's credential may report every event
    /// for itself (SPEC R35d).
    fn agent_may_report(&self, _event: &str) -> bool {
        true
    }

    fn new(settings: MobileSettings) -> Self {
        Self { settings }
    }

    fn apply(
        &self,
        phone: Option<&Phone>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Phone, SignalError> {
        Phone::after(phone.copied(), signal)
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

    use openline_core::test_util::Step::{Expect, OnlineUntil, Reason, Send};
    use openline_core::test_util::Step::{Refused, RefusedWith};
    use openline_core::test_util::{A_HEARTBEAT_OPENS_A_SESSION, t};
    use openline_core::test_util::{UnderTest, assert_registered_source, assert_settings_refused};
    use openline_core::test_util::{assert_default_settings, assert_setting_refuses};
    use serde_json::json;

    use super::*;

    #[test]
    fn r7_before_any_signal_the_agent_is_offline() {
        MobileSource::run(&[Expect(0, "offline"), Reason(0, "no mobile session seen")]);
    }

    #[test]
    fn r7_foreground_is_online_until_the_heartbeat_timeout() {
        MobileSource::run(&[
            Send("foreground", 0),
            Expect(0, "online until 120"),
            Reason(
                0,
                "mobile app in foreground, last seen at 00:00:00, offline at 00:02:00",
            ),
            OnlineUntil(120),
        ]);
    }

    #[test]
    fn r7_heartbeats_keep_a_foreground_app_online() {
        MobileSource::run(&[
            Send("foreground", 0),
            Send("heartbeat", 60),
            OnlineUntil(180),
            Send("heartbeat", 179),
            OnlineUntil(299),
        ]);
    }

    #[test]
    fn r7_a_heartbeat_without_a_session_counts_as_foreground() {
        MobileSource::run(A_HEARTBEAT_OPENS_A_SESSION);
    }

    #[test]
    fn r7_background_keeps_online_for_the_grace_period() {
        MobileSource::run(&[
            Send("foreground", 0),
            Send("background", 100),
            Expect(100, "online until 400"),
            Reason(
                100,
                "mobile app in background since 00:01:40, offline at 00:06:40",
            ),
            OnlineUntil(400),
            Reason(
                400,
                "mobile app in background since 00:01:40, offline since 00:06:40",
            ),
        ]);
    }

    #[test]
    fn r7_background_grace_does_not_need_heartbeats_nor_extend_with_them() {
        MobileSource::run(&[
            Send("background", 0),
            OnlineUntil(300),
            Send("heartbeat", 250),
            OnlineUntil(300),
            Send("background", 260),
            OnlineUntil(300),
        ]);
    }

    #[test]
    fn r7_foreground_cancels_the_background_countdown() {
        MobileSource::run(&[
            Send("background", 0),
            Send("foreground", 200),
            OnlineUntil(320),
            Send("background", 310),
            OnlineUntil(610),
        ]);
    }

    #[test]
    fn r7_close_is_offline_at_once() {
        MobileSource::run(&[
            Send("background", 0),
            Send("close", 10),
            Expect(10, "offline"),
            Reason(10, "mobile app closed at 00:00:10"),
            Send("foreground", 20),
            OnlineUntil(140),
            Send("close", 30),
            Expect(30, "offline"),
        ]);
    }

    #[test]
    fn r7_out_of_order_signals_do_not_move_the_state_backwards() {
        MobileSource::run(&[
            Send("foreground", 0),
            Send("heartbeat", 100),
            Send("heartbeat", 50),
            OnlineUntil(220),
            Send("background", 200),
            Send("foreground", 150),
            OnlineUntil(500),
            Send("close", 300),
            Send("heartbeat", 250),
            Send("background", 299),
            Expect(300, "offline"), // nothing older reopens
            // Same instant: arrival order.
            Send("foreground", 300),
            OnlineUntil(420),
        ]);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        MobileSource::run(&[
            Send("background", 0),
            RefusedWith("foreground", 10, json!({"device": "ios"}), "`device`"),
            Refused("suspend", 10, "foreground, background, heartbeat, close"),
        ]);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults = MobileSettings {
            background_grace: Duration::from_secs(300),
            heartbeat_timeout: Duration::from_secs(120),
        };
        assert_default_settings(NAME, &defaults);
        MobileSource::world(json!({"background_grace": "1m"})).play(&[
            Send("background", 0),
            OnlineUntil(60),
            Send("foreground", 100),
            OnlineUntil(220),
        ]);
        let both = json!({"heartbeat_timeout": "30s", "background_grace": "10m"});
        MobileSource::world(both).play(&[
            Send("foreground", 0),
            OnlineUntil(30),
            Send("background", 40),
            OnlineUntil(640),
        ]);
        assert_settings_refused(NAME, &json!({"grace": "5m"}), "`grace`");
        let bad_grace = [json!("5 parsecs"), json!("0m")];
        assert_setting_refuses(NAME, "background_grace", &bad_grace);
        assert_setting_refuses(NAME, "heartbeat_timeout", &[json!("0s"), json!(true)]);
    }

    #[test]
    fn registers_itself_as_mobile() {
        assert_registered_source(NAME, EVENTS);
    }

    #[test]
    fn conformance() {
        MobileSource::run(&[]).assert_conformance_before_and_after(&[Send("background", 0)], t(60));
    }

    impl UnderTest for MobileSource {
        const NAME: &'static str = NAME;
    }
}
