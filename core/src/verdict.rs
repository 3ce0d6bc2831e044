//! Availability verdicts and their combination (SPEC R3). [`combine`] is the single place
//! where precedence lives: `block` > `grant` > `online` > `offline`/`abstain`.

use serde::{Deserialize, Serialize};

use crate::model::ReasonCode;
use crate::time::Timestamp;

/// One source's opinion of an agent, strongest first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum VerdictKind {
    /// The agent must not get conversations (e.g. a dismissal, a leave).
    Block,
    /// Available whatever presence says (WTM: clocked in).
    Grant,
    /// Some client app says the agent is there.
    Online,
    /// The source's client says the agent is not there.
    Offline,
    /// No opinion.
    Abstain,
}

impl VerdictKind {
    /// The snake_case name used in the API.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A source's verdict with its human reason and the instant it changes by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The opinion.
    pub kind: VerdictKind,
    /// Human explanation, e.g. "app in background since 10:02:00, offline at 10:07:00".
    pub reason: String,
    /// When this verdict will change without any further signal, if it will.
    pub until: Option<Timestamp>,
    /// Reason code used when a block takes conversations away (SPEC R14), e.g. `suspended`.
    pub code: Option<ReasonCode>,
}

impl Verdict {
    /// A verdict of `kind` with a reason, no change instant and no code.
    pub fn new(kind: VerdictKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            until: None,
            code: None,
        }
    }

    /// A `block` verdict with the reason code it takes conversations away with.
    pub fn block(code: ReasonCode, reason: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            ..Self::new(VerdictKind::Block, reason)
        }
    }

    /// A `grant` verdict.
    pub fn grant(reason: impl Into<String>) -> Self {
        Self::new(VerdictKind::Grant, reason)
    }

    /// An `online` verdict.
    pub fn online(reason: impl Into<String>) -> Self {
        Self::new(VerdictKind::Online, reason)
    }

    /// An `offline` verdict.
    pub fn offline(reason: impl Into<String>) -> Self {
        Self::new(VerdictKind::Offline, reason)
    }

    /// An `abstain` verdict (no opinion).
    pub fn abstain(reason: impl Into<String>) -> Self {
        Self::new(VerdictKind::Abstain, reason)
    }

    /// The same verdict, changing by itself at `until`.
    pub fn until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }
}

/// The combined answer for one agent on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Whether the agent may get conversations.
    pub available: bool,
    /// When unavailable: why, as the code R14 records (`offline` when nothing is positive).
    pub code: Option<ReasonCode>,
}

/// Combines verdicts by precedence (SPEC R3): any block → unavailable (its code, the first
/// blocking verdict's); else any grant or online → available; else unavailable (`offline`:
/// availability needs a positive signal).
#[inline]
pub fn combine<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Availability {
    let mut strongest: Option<&Verdict> = None;
    for verdict in verdicts {
        if strongest.is_none_or(|s| verdict.kind < s.kind) {
            strongest = Some(verdict);
        }
    }
    let kind = strongest.map_or(VerdictKind::Abstain, |v| v.kind);
    if matches!(kind, VerdictKind::Grant | VerdictKind::Online) {
        return Availability {
            available: true,
            code: None,
        };
    }
    Availability {
        available: false,
        code: Some(blocking_code(
            strongest.filter(|_| kind == VerdictKind::Block),
        )),
    }
}

/// The code an unavailable agent is taken away with: the block's own, else `offline`.
#[cold]
fn blocking_code(block: Option<&Verdict>) -> ReasonCode {
    match block.and_then(|v| v.code.as_ref()) {
        Some(code) => code.clone(),
        None => ReasonCode::OFFLINE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: VerdictKind) -> Verdict {
        Verdict::new(kind, kind.as_str())
    }

    #[test]
    fn r17_verdict_kinds_have_the_api_names() {
        let names = [
            VerdictKind::Block,
            VerdictKind::Grant,
            VerdictKind::Online,
            VerdictKind::Offline,
            VerdictKind::Abstain,
        ]
        .map(VerdictKind::as_str);
        assert_eq!(names, ["block", "grant", "online", "offline", "abstain"]);
        assert_eq!(
            serde_json::to_value(VerdictKind::Grant).ok(),
            Some(serde_json::json!("grant"))
        );
    }

    #[test]
    fn r3_block_beats_grant_and_online() {
        let got = combine(&[
            v(VerdictKind::Online),
            Verdict::block(ReasonCode::from_static("on_leave"), "leave"),
            v(VerdictKind::Grant),
        ]);
        assert_eq!(
            got,
            Availability {
                available: false,
                code: Some(ReasonCode::from_static("on_leave"))
            }
        );
    }

    #[test]
    fn r3_grant_makes_available_whatever_apps_say() {
        let got = combine(&[
            v(VerdictKind::Offline),
            v(VerdictKind::Grant),
            v(VerdictKind::Abstain),
        ]);
        assert!(got.available);
    }

    #[test]
    fn r3_any_online_makes_available() {
        assert!(combine(&[v(VerdictKind::Offline), v(VerdictKind::Online)]).available);
    }

    #[test]
    fn r3_no_positive_signal_means_offline() {
        let got = combine(&[v(VerdictKind::Offline), v(VerdictKind::Abstain)]);
        assert_eq!(
            got,
            Availability {
                available: false,
                code: Some(ReasonCode::OFFLINE)
            }
        );
        assert_eq!(combine(&[]).code, Some(ReasonCode::OFFLINE));
    }

    #[test]
    fn r3_first_block_decides_the_code() {
        let got = combine(&[
            Verdict::block(ReasonCode::from_static("dismissed"), "dismissed"),
            Verdict::block(ReasonCode::from_static("not_working"), "clocked out"),
        ]);
        assert_eq!(got.code, Some(ReasonCode::from_static("dismissed")));
    }
}
