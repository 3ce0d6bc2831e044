//! A channel's wire shape, shared by `PUT /v1/channels/{id}`, `PATCH`, the responses and the
//! config file's `[[channels]]` tables, and its conversion to the engine's
//! [`ChannelSettings`].
//!
//! Reading of API.md: `name` is required; every other field is optional with these defaults:
//! `check_availability` false, `sources` [], `policy` "evenly", `queue` [], `max_chats` null
//! (no limit), `offer_timeout_seconds` 120 (SPEC R12).

use std::time::Duration;

use openline_core::registry::Registry;
use openline_core::{AgentId, ChannelId, ChannelSettings, Command};
use serde::{Deserialize, Serialize};

/// The policy a channel uses when none is named.
pub const DEFAULT_POLICY: &str = "evenly";

fn default_policy() -> String {
    DEFAULT_POLICY.to_owned()
}

fn default_offer_timeout() -> u64 {
    ChannelSettings::DEFAULT_OFFER_TIMEOUT.as_secs()
}

/// A full channel: the body of a PUT, or one `[[channels]]` table of the config file
/// (which also carries `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// The channel's id: required in the config file; in a PUT it may repeat the path's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::http::openapi::IdSchema>)]
    pub id: Option<String>,
    /// Display name (required, not blank).
    #[schema(pattern = "\\S")]
    pub name: String,
    /// Route only to agents whom the channel's sources say are there.
    #[serde(default)]
    pub check_availability: bool,
    /// Registered source names the channel combines.
    #[serde(default)]
    pub sources: Vec<String>,
    /// A registered policy name.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// The ordered agent queue (each id checked as it is read).
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::openapi::IdSchema>)]
    pub queue: Vec<AgentId>,
    /// Most open conversations per agent; null = no limit.
    #[serde(default)]
    pub max_chats: Option<u32>,
    /// How long an offer waits to be accepted: whole seconds, at least 1.
    #[serde(default = "default_offer_timeout")]
    #[schema(minimum = 1, maximum = 86_400)]
    pub offer_timeout_seconds: u64,
}

impl ChannelBody {
    /// The engine's settings for this body.
    pub fn to_settings(&self) -> ChannelSettings {
        ChannelSettings {
            name: self.name.clone(),
            check_availability: self.check_availability,
            sources: self.sources.clone(),
            policy: self.policy.clone(),
            queue: self.queue.clone(),
            max_chats: self.max_chats,
            offer_timeout: Duration::from_secs(self.offer_timeout_seconds),
        }
    }

    /// Channel `id` as `GET /v1/channels/{channel}` shows it, if it exists.
    pub fn of(engine: &openline_core::Engine, id: &str) -> Option<Self> {
        engine
            .channel(id)
            .map(|settings| Self::from_settings(id, settings))
    }

    /// The body describing `settings` of channel `id`.
    pub fn from_settings(id: &str, settings: &ChannelSettings) -> Self {
        Self {
            id: Some(id.to_owned()),
            name: settings.name.clone(),
            check_availability: settings.check_availability,
            sources: settings.sources.clone(),
            policy: settings.policy.clone(),
            queue: settings.queue.clone(),
            max_chats: settings.max_chats,
            offer_timeout_seconds: settings.offer_timeout.as_secs(),
        }
    }

    /// The engine command creating or replacing channel `id` with this body.
    pub fn to_command(&self, id: ChannelId) -> Command {
        Command::PutChannel {
            id,
            settings: self.to_settings(),
        }
    }

    /// True when availability is checked but no selected source can ever say "available"
    /// (SPEC R3: such a channel routes to nobody).
    pub fn can_never_route(&self, registry: &Registry) -> bool {
        self.check_availability && self.sources.iter().all(|s| registry.only_blocks(s))
    }
}

/// `PATCH /v1/channels/{id}`: any subset of the fields; `max_chats: null` removes the limit.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// May repeat the path's id.
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// New display name (not blank).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "\\S")]
    pub name: Option<String>,
    /// New check-availability switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_availability: Option<bool>,
    /// New source list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    /// New policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// New queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::http::openapi::IdSchema>>)]
    pub queue: Option<Vec<AgentId>>,
    /// New limit: absent = unchanged, null = no limit.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub max_chats: Option<Option<u32>>,
    /// New offer timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 86_400)]
    pub offer_timeout_seconds: Option<u64>,
}

/// Distinguishes an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ChannelPatch {
    /// The fields it changes beyond those a supervisor may change (SPEC R26:
    /// `check_availability`, `queue`, `max_chats`), by name.
    pub fn beyond_supervisor(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("sources", self.sources.is_some()),
            ("policy", self.policy.is_some()),
            (
                "offer_timeout_seconds",
                self.offer_timeout_seconds.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect()
    }

    /// `current` with this patch applied.
    pub fn apply(self, mut current: ChannelBody) -> ChannelBody {
        if let Some(name) = self.name {
            current.name = name;
        }
        if let Some(check) = self.check_availability {
            current.check_availability = check;
        }
        if let Some(sources) = self.sources {
            current.sources = sources;
        }
        if let Some(policy) = self.policy {
            current.policy = policy;
        }
        if let Some(queue) = self.queue {
            current.queue = queue;
        }
        if let Some(max_chats) = self.max_chats {
            current.max_chats = max_chats;
        }
        if let Some(timeout) = self.offer_timeout_seconds {
            current.offer_timeout_seconds = timeout;
        }
        current
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn only_name_is_required_and_defaults_apply() {
        let body: ChannelBody = serde_json::from_str(r#"{"name":"Web"}"#).unwrap();
        assert_eq!(body.policy, "evenly");
        assert_eq!(body.offer_timeout_seconds, 120);
        assert!(!body.check_availability && body.sources.is_empty() && body.max_chats.is_none());
        let err = serde_json::from_str::<ChannelBody>(r#"{"policy":"evenly"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let base: ChannelBody = serde_json::from_str(r#"{"name":"Web","max_chats":3}"#).unwrap();
        let keep: ChannelPatch = serde_json::from_str(r#"{"check_availability":true}"#).unwrap();
        let kept = keep.apply(base.clone());
        assert_eq!(kept.max_chats, Some(3));
        assert!(kept.check_availability);
        let clear: ChannelPatch = serde_json::from_str(r#"{"max_chats":null}"#).unwrap();
        assert_eq!(clear.apply(base).max_chats, None);
    }

    #[test]
    fn r3_hr_only_channel_can_never_route() {
        let body: ChannelBody =
            serde_json::from_str(r#"{"name":"W","check_availability":true,"sources":["hr"]}"#)
                .unwrap();
        let registry = Registry::collect().unwrap();
        assert!(body.can_never_route(&registry));
        let off = ChannelBody {
            check_availability: false,
            ..body.clone()
        };
        assert!(!off.can_never_route(&registry));
        let mobile = ChannelBody {
            sources: vec!["hr".into(), "mobile".into()],
            ..body
        };
        assert!(!mobile.can_never_route(&registry));
    }
}
