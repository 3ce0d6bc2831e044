//! Wire types of API.md: request bodies (unknown fields refused) and response bodies
//! (timestamps RFC 3339 UTC). Core types are mapped here so the API never leaks the
//! engine's field names.

use openline_core::engine::ChannelAvailability;
use openline_core::{
    AgentProfile, Author, Conversation, ConversationState, GroupSettings, HistoryEvent, Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{
    AuthorSchema, ClockModeSchema, ConversationStateSchema, HistoryEventSchema, IdSchema,
    VerdictKindSchema,
};

/// An instant as the API writes it: RFC 3339, UTC, `Z`.
pub fn ts(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `PUT /v1/agents/{agent}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    /// May repeat the path's id.
    #[serde(default)]
    #[schema(value_type = Option<IdSchema>)]
    pub id: Option<String>,
    /// Display name (not blank).
    #[schema(pattern = "\\S")]
    pub name: String,
    /// User groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// IANA time zone, informational.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl AgentBody {
    /// The engine's profile.
    pub fn into_profile(self) -> AgentProfile {
        AgentProfile {
            name: self.name,
            groups: self.groups,
            timezone: self.timezone,
        }
    }
}

/// An agent as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// User groups.
    pub groups: Vec<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Whether the HR source currently blocks the agent as dismissed.
    pub dismissed: bool,
}

impl AgentView {
    /// Agent `id` as `GET /v1/agents/{agent}` shows it, if it exists.
    pub fn of(engine: &openline_core::Engine, id: &str) -> Option<Self> {
        engine
            .agent_profile(id)
            .map(|profile| Self::new(id, profile, Self::is_dismissed(engine, id)))
    }

    /// The API's `dismissed` flag: HR currently blocks the agent with its dismissal code.
    pub fn is_dismissed(engine: &openline_core::Engine, id: &str) -> bool {
        engine.is_blocked_with(id, &openline_hr::DISMISSED)
    }

    /// The view of agent `id`.
    pub fn new(id: &str, profile: &AgentProfile, dismissed: bool) -> Self {
        Self {
            id: id.to_owned(),
            name: profile.name.clone(),
            groups: profile.groups.clone(),
            timezone: profile.timezone.clone(),
            dismissed,
        }
    }
}

/// `PUT /v1/groups/{group}`: the settings the sources declare (e.g. the browser's
/// `session_lifetime_minutes`); the engine refuses keys no source declares.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct GroupBody {
    /// May repeat the path's id.
    #[serde(default)]
    #[schema(value_type = Option<IdSchema>)]
    pub id: Option<String>,
    /// Every other key: a group setting; null or absent = the source's default.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// A group as the API shows it: its id and every declared group setting (null = default).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: String,
    /// Each declared setting's value, or null.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl GroupView {
    /// The view of group `id`, showing each of the `declared` keys.
    pub fn new<'a>(
        id: &str,
        settings: &GroupSettings,
        declared: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let settings = declared
            .into_iter()
            .map(|key| {
                let value = settings.get(key).cloned().unwrap_or_default();
                (key.to_owned(), value)
            })
            .collect();
        Self {
            id: id.to_owned(),
            settings,
        }
    }
}

/// One line of a conversation's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryView {
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened.
    #[schema(value_type = HistoryEventSchema)]
    pub event: HistoryEvent,
    /// The agent concerned.
    pub agent: Option<String>,
    /// The reason code, where one applies.
    pub reason: Option<String>,
    /// Who caused it: the caller as recorded (a token's name, `jwt:<subject>`, `local`), or
    /// null for the router's own decisions.
    pub by: Option<String>,
}

/// A conversation as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationView {
    /// Id.
    pub id: String,
    /// Channel.
    pub channel: String,
    /// Customer id.
    pub customer: String,
    /// `queued`, `offered`, `accepted`, `closed`.
    #[schema(value_type = ConversationStateSchema)]
    pub state: ConversationState,
    /// The holder once accepted.
    pub agent: Option<String>,
    /// Agents it is offered to now.
    pub offered_to: Vec<String>,
    /// Who wrote last.
    #[schema(value_type = Option<AuthorSchema>)]
    pub last_message_from: Option<Author>,
    /// First arrival.
    #[schema(format = DateTime)]
    pub queued_at: String,
    /// The latest entries, oldest first.
    pub history: Vec<HistoryView>,
    /// How many older entries were dropped (at most 200 are kept).
    pub history_omitted: u64,
    /// When it was closed, or null.
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
}

impl From<&Conversation> for ConversationView {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id.to_string(),
            channel: c.channel.to_string(),
            customer: c.customer.clone(),
            state: c.state,
            agent: c.agent.as_deref().map(str::to_owned),
            offered_to: c.offered_to.iter().map(|a| a.to_string()).collect(),
            last_message_from: c.last_message_from,
            queued_at: ts(c.queued_at),
            history: c
                .history
                .iter()
                .map(|h| HistoryView {
                    at: ts(h.at),
                    event: h.event,
                    agent: h.agent.as_deref().map(str::to_owned),
                    reason: h.reason.as_ref().map(|r| r.as_str().to_owned()),
                    by: h.by.clone(),
                })
                .collect(),
            history_omitted: c.history_omitted,
            closed_at: c.closed_at.map(ts),
        }
    }
}

/// `{"conversations": [...]}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationList {
    /// The conversations.
    pub conversations: Vec<ConversationView>,
}

impl<'a> FromIterator<&'a Conversation> for ConversationList {
    fn from_iter<I: IntoIterator<Item = &'a Conversation>>(iter: I) -> Self {
        Self {
            conversations: iter.into_iter().map(ConversationView::from).collect(),
        }
    }
}

/// `GET /v1/conversations?channel=&agent=&state=&closed_after=&closed_before=&limit=&after=`
/// (API.md "Conversations (added)"): every parameter is optional, an empty value counts as
/// absent, any other parameter is refused. Values are checked by the handler, which names the
/// parameter in its refusals.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only conversations of this channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only conversations held by this agent, or offered to it.
    #[serde(default)]
    pub agent: Option<String>,
    /// `queued`, `offered`, `accepted` or `closed`.
    #[serde(default)]
    #[param(value_type = Option<ConversationStateSchema>)]
    pub state: Option<String>,
    /// RFC 3339: only conversations closed at or after this instant.
    #[serde(default)]
    #[param(format = DateTime)]
    pub closed_after: Option<String>,
    /// RFC 3339: only conversations closed before this instant.
    #[serde(default)]
    #[param(format = DateTime)]
    pub closed_before: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The previous page's `next`.
    #[serde(default)]
    pub after: Option<String>,
}

/// `GET /v1/conversations` → one page, newest first; `next` is the cursor of the following
/// page (its `after`), or null after the last one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationPage {
    /// The conversations.
    pub conversations: Vec<ConversationView>,
    /// The next page's `after`, or null.
    pub next: Option<String>,
}

/// One source's verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerdictView {
    /// The source's name.
    pub source: String,
    /// `block`, `grant`, `online`, `offline`, `abstain`.
    #[schema(value_type = VerdictKindSchema)]
    pub verdict: &'static str,
    /// Human reason.
    pub reason: String,
    /// When it changes by itself, or null (also when that would be after the year 9999,
    /// which the clock never reaches).
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

/// An agent's availability on one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelAvailabilityView {
    /// The channel.
    pub channel: String,
    /// The channel's check-availability switch.
    pub check_availability: bool,
    /// Whether routing counts the agent as available here: always true while the channel's
    /// check is off.
    pub available: bool,
    /// Why unavailable, as a reason code (added field); null when available.
    pub reason: Option<String>,
    /// What the channel's sources say, checked or not (added field).
    pub sources_available: bool,
    /// Why the sources say unavailable (added field).
    pub sources_reason: Option<String>,
    /// Since when the sources' answer has been what it is, or null when not known (added field).
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Every source's verdict, in the channel's source order.
    pub verdicts: Vec<VerdictView>,
}

impl From<&ChannelAvailability> for ChannelAvailabilityView {
    fn from(a: &ChannelAvailability) -> Self {
        Self {
            channel: a.channel.to_string(),
            check_availability: a.check_availability,
            available: a.available,
            reason: a.reason.as_ref().map(|r| r.as_str().to_owned()),
            sources_available: a.sources_available,
            sources_reason: a.sources_reason.as_ref().map(|r| r.as_str().to_owned()),
            since: a.since.map(ts),
            verdicts: a
                .verdicts
                .iter()
                .map(|v| VerdictView {
                    source: v.source.clone(),
                    verdict: v.verdict.kind.as_str(),
                    reason: v.verdict.reason.clone(),
                    // Past the year 9999 the clock never gets there: it never changes by
                    // itself (and RFC 3339 has no five-digit years).
                    until: v
                        .verdict
                        .until
                        .filter(|at| openline_core::time::in_range(*at))
                        .map(ts),
                })
                .collect(),
        }
    }
}

/// `GET /v1/agents/{agent}/availability`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AvailabilityView {
    /// The agent.
    pub agent: String,
    /// One entry per channel whose queue holds the agent.
    pub channels: Vec<ChannelAvailabilityView>,
}

/// `POST /v1/channels/{channel}/conversations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationBody {
    /// Client-chosen id (idempotent retries); generated when absent.
    #[serde(default)]
    #[schema(value_type = Option<IdSchema>)]
    pub id: Option<String>,
    /// The customer's id (not blank).
    #[schema(pattern = "\\S")]
    pub customer: String,
    /// Optional first message (from the customer).
    #[serde(default)]
    pub text: Option<String>,
}

/// `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `customer` or `agent`.
    #[schema(value_type = AuthorSchema)]
    pub from: Author,
    /// The writing agent when `from` is `agent`.
    #[serde(default)]
    #[schema(value_type = Option<IdSchema>)]
    pub agent: Option<String>,
    /// The text (not stored).
    #[serde(default)]
    pub text: Option<String>,
}

/// `{"agent": "alice"}` (accept, decline).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRef {
    /// The agent.
    #[schema(value_type = IdSchema)]
    pub agent: String,
}

/// `POST /v1/conversations/{id}/transfer`: `{"to": "bob"}` or `{"to": null}` (required).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The new agent, or null for the queue.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, value_type = Option<IdSchema>)]
    pub to: Option<String>,
}

/// `POST /v1/conversations/{id}/close`: no fields (the body may be empty).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {}

/// `POST /v1/clock/advance`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    /// Whole seconds, at least 1.
    #[schema(minimum = 1)]
    pub seconds: u64,
}

/// `GET /v1/clock`, `POST /v1/clock/advance`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClockView {
    /// The clock's now.
    #[schema(format = DateTime)]
    pub now: String,
    /// `system` or `manual`.
    #[schema(value_type = ClockModeSchema)]
    pub mode: &'static str,
}

/// `GET /v1/agents` → `{"agents": [...]}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentList {
    /// Every agent.
    pub agents: Vec<AgentView>,
}

/// `GET /v1/channels` → `{"channels": [...]}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelList {
    /// Every channel.
    pub channels: Vec<crate::channel::ChannelBody>,
}

/// `POST /v1/signals`: one signal, or an array of them applied all-or-nothing.
/// Documentation only: the handler reads the body as JSON and checks each field itself.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SignalBatch {
    /// One signal.
    One(SignalDoc),
    /// Several, all or none.
    Many(Vec<SignalDoc>),
}

/// One signal: `agent`, `source`, `event`, optional `at`, and the event's own fields (e.g. a
/// leave's `id`, `from`, `to`), which go to the source.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SignalDoc {
    /// The agent it is about.
    #[schema(value_type = IdSchema)]
    pub agent: String,
    /// A registered source (`GET /v1/plugins`).
    #[schema(pattern = "\\S")]
    pub source: String,
    /// One of the source's events.
    #[schema(pattern = "\\S")]
    pub event: String,
    /// When it happened (default: the server's clock now; never in the future).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// The event's own fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v1/signals` → `{"accepted": n}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// How many signals were applied.
    pub accepted: usize,
}

/// `GET /healthz`, `GET /readyz` → `{"status": "ok"}` / `{"status": "ready"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `ready`.
    pub status: String,
}

/// `GET /v1/plugins` (documentation of what `ops::plugins` writes).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginsView {
    /// Registered source names, sorted.
    pub sources: Vec<String>,
    /// Registered policy names, sorted.
    pub policies: Vec<String>,
    /// Each source's events, reason codes and group settings.
    pub source_details: Vec<SourceDetails>,
}

/// One source as `GET /v1/plugins` describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceDetails {
    /// Its name.
    pub name: String,
    /// The events it accepts.
    pub events: Vec<String>,
    /// The reason codes its blocks carry.
    pub reason_codes: Vec<String>,
    /// The per-group settings it reads.
    pub group_settings: Vec<GroupSettingDetails>,
}

/// A group setting a source reads.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupSettingDetails {
    /// Its key in `PUT /v1/groups/{id}`.
    pub key: String,
    /// What it does.
    pub summary: String,
}
