//! # openline-messenger — the `messenger` availability source (SPEC R6)
//!
//! Desktop messenger presence: the agent is **online** while the app is open and the computer
//! is on, **offline** otherwise. The computer going off or asleep is seen as missing
//! heartbeats. This source never blocks nor grants.
//!
//! ## Events (`"source": "messenger"`, no extra fields)
//! - `open` — the app started: online, counting from this instant.
//! - `heartbeat` — the app is still running: extends the online window. A heartbeat with no
//!   open session (never opened, or closed before) opens one: the app evidently runs.
//! - `close` — offline at once.
//! - `dnd_on` / `dnd_off` — Do Not Disturb. Recorded and shown in the reason text
//!   ("… (Do Not Disturb on)"), **never** used for the verdict (SPEC R6).
//!
//! Before the agent's messenger has sent anything the verdict is `offline`
//! ("no messenger session seen").
//!
//! ## Settings (`[plugins.messenger]`)
//! - `heartbeat_timeout` (humantime string, default `"2m"`, must be longer than zero).
//!
//! ## Boundaries
//! With `last` the latest `open`/`heartbeat` and the default timeout: online at
//! `last + 119s` with `until = last + 120s`, offline at `last + 120s` (`until = None`).
//!
//! ## Out-of-order signals
//! The session (`open`/`heartbeat`/`close`) and Do Not Disturb each keep the instant of the
//! last signal applied to them. An older signal is validated, accepted and ignored: an older
//! heartbeat never shortens the online window, and an `open` or `heartbeat` older than a
//! `close` never reopens the session. Signals at the same instant apply in arrival order.

use std::time::Duration;

use openline_core::presence;
use openline_core::settings;
use openline_core::source::{AgentContext, Signal, SignalError};
use openline_core::time::{Timestamp, clock_time};
use openline_core::typed::Source;
use openline_core::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The source's registered name.
pub const NAME: &str = "messenger";

/// The events the `messenger` source accepts.
pub const EVENTS: &[&str] = &["open", "heartbeat", "close", "dnd_on", "dnd_off"];

/// `[plugins.messenger]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessengerSettings {
    /// Offline once no `open`/`heartbeat` came for this long (default 2 minutes).
    #[serde(deserialize_with = "settings::positive_duration")]
    pub heartbeat_timeout: Duration,
}

impl MessengerSettings {
    /// Default `heartbeat_timeout` (SPEC R6): two minutes.
    pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(120);
}

impl Default for MessengerSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Self::DEFAULT_HEARTBEAT_TIMEOUT,
        }
    }
}

/// The `messenger` source: desktop sessions (SPEC R6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerSource {
    /// Offline once no `open`/`heartbeat` came for this long.
    heartbeat_timeout: Duration,
}

/// What one agent's messenger said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The session and the instant of the last session signal applied.
    session: Option<(Session, Timestamp)>,
    /// Do Not Disturb and the instant of the last `dnd_*` signal applied.
    dnd: Option<(bool, Timestamp)>,
}

/// The app's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Session {
    /// Open; the latest `open`/`heartbeat` came at `last_seen`.
    Open { last_seen: Timestamp },
    /// Closed at this instant.
    Closed(Timestamp),
}

impl Client {
    /// The client after `signal`, one of [`EVENTS`]: the session and Do Not Disturb each
    /// change only for a signal at least as recent as the last one applied to them.
    fn after(mut self, signal: &Signal) -> Self {
        let at = signal.at;
        match signal.event.as_str() {
            "dnd_on" | "dnd_off" => {
                if self.dnd.is_none_or(|(_, last)| last <= at) {
                    self.dnd = Some((signal.event == "dnd_on", at));
                }
            }
            event => {
                if self.session.is_none_or(|(_, last)| last <= at) {
                    let session = match event {
                        "close" => Session::Closed(at),
                        _ => Session::Open { last_seen: at },
                    };
                    self.session = Some((session, at));
                }
            }
        }
        self
    }
}

impl Source for MessengerSource {
    type Settings = MessengerSettings;
    type State = Client;
    const EVENTS: &'static [&'static str] = EVENTS;

    /// Presence from the agent's own apps: an agent's credential may report every event
    /// for itself (SPEC R35d).
    fn agent_may_report(&self, _event: &str) -> bool {
        true
    }

    fn new(settings: MessengerSettings) -> Self {
        Self {
            heartbeat_timeout: settings.heartbeat_timeout,
        }
    }

    fn apply(
        &self,
        client: Option<&Client>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Client, SignalError> {
        let client = client.copied().unwrap_or_default();
        signal.only_fields(&[]).map(|()| client.after(signal))
    }

    fn verdict(&self, client: Option<&Client>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        let client = client.copied().unwrap_or_default();
        let mut verdict = match client.session {
            None => presence::never_seen(NAME),
            Some((Session::Closed(at), _)) => presence::closed(NAME, at),
            Some((Session::Open { last_seen }, _)) => presence::online_for(
                now,
                last_seen,
                self.heartbeat_timeout,
                &format!("messenger open, last seen at {}", clock_time(last_seen)),
            ),
        };
        // SPEC R6: shown, never used.
        if client.dnd.is_some_and(|(on, _)| on) {
            verdict.reason.push_str(" (Do Not Disturb on)");
        }
        verdict
    }
}

openline_core::register_source! {
    MessengerSource,
    name: NAME,
    summary: "desktop messenger presence: online while open and sending heartbeats",
    can_make_available: true,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openline_core::test_util::Step::{Expect, OnlineUntil, Reason, ReasonHas, Send};
    use openline_core::test_util::Step::{Refused, RefusedWith};
    use openline_core::test_util::{A_HEARTBEAT_OPENS_A_SESSION, t};
    use openline_core::test_util::{UnderTest, assert_registered_source, assert_settings_refused};
    use openline_core::test_util::{assert_default_settings, assert_setting_refuses};
    use serde_json::json;

    use super::*;

    #[test]
    fn r6_before_any_signal_the_agent_is_offline() {
        MessengerSource::run(&[Expect(0, "offline"), Reason(0, "no messenger session seen")]);
    }

    #[test]
    fn r6_open_is_online_until_the_heartbeat_timeout() {
        MessengerSource::run(&[
            Send("open", 0),
            Expect(0, "online until 120"),
            Reason(
                0,
                "messenger open, last seen at 00:00:00, offline at 00:02:00",
            ),
            OnlineUntil(120),
            Reason(
                120,
                "messenger open, last seen at 00:00:00, offline since 00:02:00",
            ),
        ]);
    }

    #[test]
    fn r6_heartbeats_extend_the_online_window() {
        MessengerSource::run(&[
            Send("open", 0),
            Send("heartbeat", 100),
            OnlineUntil(220),
            Send("heartbeat", 219),
            OnlineUntil(339),
        ]);
    }

    #[test]
    fn r6_a_heartbeat_without_open_counts_as_open() {
        MessengerSource::run(A_HEARTBEAT_OPENS_A_SESSION);
    }

    #[test]
    fn r6_a_heartbeat_after_the_timeout_brings_the_agent_back() {
        MessengerSource::run(&[
            Send("open", 0),
            Expect(500, "offline"),
            Send("heartbeat", 500),
            OnlineUntil(620),
        ]);
    }

    #[test]
    fn r6_close_is_offline_at_once() {
        MessengerSource::run(&[
            Send("open", 0),
            Send("close", 30),
            Expect(30, "offline"),
            Reason(30, "messenger closed at 00:00:30"),
            Send("open", 40),
            OnlineUntil(160),
        ]);
    }

    #[test]
    fn r6_do_not_disturb_is_shown_but_never_changes_the_verdict() {
        const OPEN: &str = "messenger open, last seen at 00:00:00, offline at 00:02:00";
        MessengerSource::run(&[
            Send("open", 0),
            Expect(10, "online until 120"),
            Reason(10, OPEN),
            Send("dnd_on", 10),
            Expect(10, "online until 120"),
            Reason(
                10,
                "messenger open, last seen at 00:00:00, offline at 00:02:00 (Do Not Disturb on)",
            ),
            OnlineUntil(120),
            Send("dnd_off", 20),
            Expect(20, "online until 120"),
            Reason(20, OPEN),
            Send("dnd_on", 30),
            Send("close", 40),
            Reason(40, "messenger closed at 00:00:40 (Do Not Disturb on)"),
            Expect(40, "offline"),
        ]);
    }

    #[test]
    fn r6_do_not_disturb_alone_does_not_make_the_agent_online() {
        MessengerSource::run(&[
            Send("dnd_off", 0),
            Expect(0, "offline"),
            Reason(0, "no messenger session seen"),
        ]);
    }

    #[test]
    fn r6_out_of_order_signals_do_not_move_the_state_backwards() {
        MessengerSource::run(&[
            Send("open", 0),
            Send("heartbeat", 100),
            Send("heartbeat", 50),
            OnlineUntil(220),
            Send("close", 200),
            Send("heartbeat", 150),
            Send("open", 199),
            Expect(200, "offline"), // late signals do not reopen
            Send("dnd_on", 300),
            Send("dnd_off", 250),
            ReasonHas(300, "(Do Not Disturb on)"),
            // Same instant: arrival order.
            Send("open", 200),
            OnlineUntil(320),
        ]);
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        MessengerSource::run(&[
            Send("open", 0),
            RefusedWith("heartbeat", 10, json!({"battery": 3}), "`battery`"),
            Refused("away", 10, "open, heartbeat, close, dnd_on, dnd_off"),
        ]);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults = MessengerSettings {
            heartbeat_timeout: Duration::from_secs(120),
        };
        assert_default_settings(NAME, &defaults);
        MessengerSource::world(json!({"heartbeat_timeout": "1m 30s"}))
            .play(&[Send("open", 0), OnlineUntil(90)]);
        assert_settings_refused(NAME, &json!({"heartbeat": "2m"}), "`heartbeat`");
        let bad = [json!("two minutes"), json!(120), json!("0s")];
        assert_setting_refuses(NAME, "heartbeat_timeout", &bad);
    }

    #[test]
    fn conformance() {
        MessengerSource::run(&[]).assert_conformance_before_and_after(&[Send("open", 0)], t(60));
    }

    #[test]
    fn registers_itself_as_messenger() {
        assert_registered_source(NAME, EVENTS);
    }

    impl UnderTest for MessengerSource {
        const NAME: &'static str = NAME;
    }
}
