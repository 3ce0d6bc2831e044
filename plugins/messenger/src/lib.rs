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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessengerSource {
    settings: MessengerSettings,
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

impl Source for MessengerSource {
    type Settings = MessengerSettings;
    type State = Client;
    const EVENTS: &'static [&'static str] = EVENTS;

    fn new(settings: MessengerSettings) -> Self {
        Self { settings }
    }

    fn apply(
        &self,
        client: Option<&Client>,
        _agent: &AgentContext<'_>,
        signal: &Signal,
    ) -> Result<Client, SignalError> {
        signal.only_fields(&[])?;
        let mut client = client.copied().unwrap_or_default();
        let at = signal.at;
        match signal.event.as_str() {
            "dnd_on" | "dnd_off" => {
                if client.dnd.is_none_or(|(_, last)| last <= at) {
                    client.dnd = Some((signal.event == "dnd_on", at));
                }
            }
            event => {
                if client.session.is_none_or(|(_, last)| last <= at) {
                    let session = match event {
                        "close" => Session::Closed(at),
                        _ => Session::Open { last_seen: at },
                    };
                    client.session = Some((session, at));
                }
            }
        }
        Ok(client)
    }

    fn verdict(&self, client: Option<&Client>, _: &AgentContext<'_>, now: Timestamp) -> Verdict {
        let client = client.copied().unwrap_or_default();
        let mut verdict = match client.session {
            None => presence::never_seen(NAME),
            Some((Session::Closed(at), _)) => presence::closed(NAME, at),
            Some((Session::Open { last_seen }, _)) => presence::online_for(
                now,
                last_seen,
                self.settings.heartbeat_timeout,
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

    use openline_core::test_util::{SourceProbe, assert_source_conformance, t};
    use openline_core::test_util::{assert_registered_source, assert_settings_refused};
    use openline_core::verdict::VerdictKind;
    use serde_json::{Value, json};

    use super::*;
    use openline_core::registry;
    use openline_core::typed::TypedSource;

    /// One agent, `alice`, and a `messenger` source with these settings.
    fn world(settings: Value) -> SourceProbe<TypedSource<MessengerSource>> {
        SourceProbe::typed(NAME, &settings)
    }

    #[test]
    fn r6_before_any_signal_the_agent_is_offline() {
        let v = world(Value::Null).at(t(0));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "no messenger session seen");
    }

    #[test]
    fn r6_open_is_online_until_the_heartbeat_timeout() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        let v = w.at(t(0));
        assert_eq!(v.kind, VerdictKind::Online);
        assert_eq!(v.until, Some(t(120)));
        assert_eq!(
            v.reason,
            "messenger open, last seen at 00:00:00, offline at 00:02:00"
        );
        w.assert_online_until(t(120));
        assert_eq!(
            w.at(t(120)).reason,
            "messenger open, last seen at 00:00:00, offline since 00:02:00"
        );
    }

    #[test]
    fn r6_heartbeats_extend_the_online_window() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        w.ok("heartbeat", t(100));
        w.assert_online_until(t(220));
        w.ok("heartbeat", t(219));
        w.assert_online_until(t(339));
    }

    #[test]
    fn r6_a_heartbeat_without_open_counts_as_open() {
        let mut w = world(Value::Null);
        w.ok("heartbeat", t(10));
        w.assert_online_until(t(130));
        w.ok("close", t(20));
        w.ok("heartbeat", t(30));
        w.assert_online_until(t(150));
    }

    #[test]
    fn r6_a_heartbeat_after_the_timeout_brings_the_agent_back() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        assert_eq!(w.at(t(500)).kind, VerdictKind::Offline);
        w.ok("heartbeat", t(500));
        w.assert_online_until(t(620));
    }

    #[test]
    fn r6_close_is_offline_at_once() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        w.ok("close", t(30));
        let v = w.at(t(30));
        assert_eq!((v.kind, v.until), (VerdictKind::Offline, None));
        assert_eq!(v.reason, "messenger closed at 00:00:30");
        w.ok("open", t(40));
        w.assert_online_until(t(160));
    }

    #[test]
    fn r6_do_not_disturb_is_shown_but_never_changes_the_verdict() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        let without = w.at(t(10));
        w.ok("dnd_on", t(10));
        let with = w.at(t(10));
        assert_eq!((with.kind, with.until), (without.kind, without.until));
        assert_eq!(
            with.reason,
            format!("{} (Do Not Disturb on)", without.reason)
        );
        w.assert_online_until(t(120));
        w.ok("dnd_off", t(20));
        assert_eq!(w.at(t(20)), without);
        w.ok("dnd_on", t(30));
        w.ok("close", t(40));
        assert_eq!(
            w.at(t(40)).reason,
            "messenger closed at 00:00:40 (Do Not Disturb on)"
        );
        assert_eq!(w.at(t(40)).kind, VerdictKind::Offline);
    }

    #[test]
    fn r6_do_not_disturb_alone_does_not_make_the_agent_online() {
        let mut w = world(Value::Null);
        w.ok("dnd_off", t(0));
        assert_eq!(w.at(t(0)).kind, VerdictKind::Offline);
        assert_eq!(w.at(t(0)).reason, "no messenger session seen");
    }

    #[test]
    fn r6_out_of_order_signals_do_not_move_the_state_backwards() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        w.ok("heartbeat", t(100));
        w.ok("heartbeat", t(50));
        w.assert_online_until(t(220));
        w.ok("close", t(200));
        w.ok("heartbeat", t(150));
        w.ok("open", t(199));
        assert_eq!(
            w.at(t(200)).kind,
            VerdictKind::Offline,
            "late signals do not reopen"
        );
        w.ok("dnd_on", t(300));
        w.ok("dnd_off", t(250));
        assert!(w.at(t(300)).reason.ends_with("(Do Not Disturb on)"));
        // Same instant: arrival order.
        w.ok("open", t(200));
        w.assert_online_until(t(320));
    }

    #[test]
    fn r20_bad_signals_are_refused_and_change_nothing() {
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        let before = w.source.clone();
        let err = w
            .send("heartbeat", t(10), json!({"battery": 3}))
            .unwrap_err();
        assert!(err.contains("`battery`"), "{err}");
        let err = w.send("away", t(10), Value::Null).unwrap_err();
        assert!(
            err.contains("open, heartbeat, close, dnd_on, dnd_off"),
            "{err}"
        );
        assert_eq!(w.source, before);
    }

    #[test]
    fn settings_defaults_custom_and_refusals() {
        let defaults: MessengerSettings = registry::settings(NAME, &Value::Null).unwrap();
        assert_eq!(defaults.heartbeat_timeout, Duration::from_secs(120));
        assert_eq!(
            registry::settings::<MessengerSettings>(NAME, &json!({})).unwrap(),
            defaults
        );

        let mut w = world(json!({"heartbeat_timeout": "1m 30s"}));
        w.ok("open", t(0));
        w.assert_online_until(t(90));

        for (bad, needle) in [
            (json!({"heartbeat": "2m"}), "`heartbeat`"),
            (
                json!({"heartbeat_timeout": "two minutes"}),
                "`heartbeat_timeout`",
            ),
            (json!({"heartbeat_timeout": 120}), "`heartbeat_timeout`"),
            (json!({"heartbeat_timeout": "0s"}), "`heartbeat_timeout`"),
        ] {
            assert_settings_refused(NAME, &bad, needle);
        }
    }

    #[test]
    fn conformance() {
        let mut messenger =
            TypedSource::<MessengerSource>::from_settings(NAME, &Value::Null).unwrap();
        assert_source_conformance(&mut messenger, t(0));
        let mut w = world(Value::Null);
        w.ok("open", t(0));
        assert_source_conformance(&mut w.source, t(60));
    }

    #[test]
    fn registers_itself_as_messenger() {
        assert_registered_source(NAME, EVENTS);
    }
}
