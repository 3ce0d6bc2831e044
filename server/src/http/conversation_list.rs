//! `GET /v1/conversations` (API.md "Conversations (added)", SPEC R21b): open conversations
//! from memory and closed ones from memory and the archive, newest first, in pages that never
//! repeat nor skip a conversation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use axum::Json;
use axum::extract::State;
use openline_core::{Conversation, ConversationState, Timestamp};

use super::AppState;
use super::conversations::{exists_at, store_failed};
use super::dto::{ConversationPage, ConversationQuery, ConversationView};
use super::error::AppError;
use super::extract::{QueryParams, page_limit, validate_id};
use crate::store::archive::{ArchiveQuery, Position, to_micros};

/// The default page size of `GET /v1/conversations`.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page size of `GET /v1/conversations`.
pub const MAX_LIMIT: usize = 1000;

/// The checked parameters of `GET /v1/conversations`.
#[derive(Debug, Clone)]
struct ListFilter {
    channel: Option<String>,
    agent: Option<String>,
    state: Option<ConversationState>,
    closed_after: Option<Timestamp>,
    closed_before: Option<Timestamp>,
    after: Option<Position>,
    limit: usize,
}

/// `value` unless it is empty (an empty parameter counts as absent).
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn instant(name: &str, value: Option<String>) -> Result<Option<Timestamp>, AppError> {
    given(value)
        .map(|text| {
            openline_core::time::parse_rfc3339(&text).map_err(|e| {
                AppError::invalid(format!(
                    "`{name}` must be an RFC 3339 instant such as 2026-01-31T09:00:00Z, \
                     got `{text}`: {e}"
                ))
            })
        })
        .transpose()
}

fn id_filter(name: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    let value = given(value);
    if let Some(id) = &value {
        validate_id(name, id).map_err(AppError::invalid)?;
    }
    Ok(value)
}

impl ListFilter {
    fn parse(query: ConversationQuery) -> Result<Self, AppError> {
        let state = given(query.state)
            .map(|text| match text.as_str() {
                "queued" => Ok(ConversationState::Queued),
                "offered" => Ok(ConversationState::Offered),
                "accepted" => Ok(ConversationState::Accepted),
                "closed" => Ok(ConversationState::Closed),
                _ => Err(AppError::invalid(format!(
                    "`state` must be one of queued, offered, accepted, closed; got `{text}`"
                ))),
            })
            .transpose()?;
        let limit = page_limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
        let after = given(query.after)
            .map(|text| {
                cursor::parse(&text).ok_or_else(|| {
                    AppError::invalid(format!(
                        "`after` is not a cursor of this list: pass the `next` of the \
                         previous page as it is, got `{}`",
                        text.chars().take(100).collect::<String>()
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            channel: id_filter("channel", query.channel)?,
            agent: id_filter("agent", query.agent)?,
            state,
            closed_after: instant("closed_after", query.closed_after)?,
            closed_before: instant("closed_before", query.closed_before)?,
            after,
            limit,
        })
    }

    /// Whether closed conversations (and so the archive) can match.
    fn wants_closed(&self) -> bool {
        matches!(self.state, None | Some(ConversationState::Closed))
    }

    /// Whether `c`, a conversation in memory, matches (with the archive's semantics and
    /// precision, so that a conversation matches the same in both places).
    fn matches(&self, c: &Conversation, horizon: Timestamp) -> bool {
        let closing = self.closed_after.is_some() || self.closed_before.is_some();
        exists_at(c, horizon)
            && self.channel.as_deref().is_none_or(|ch| *c.channel == *ch)
            && self.state.is_none_or(|s| c.state == s)
            && self.agent.as_deref().is_none_or(|a| {
                c.agent.as_deref() == Some(a) || c.offered_to.iter().any(|o| **o == *a)
            })
            && (!closing
                || c.closed_at.map(to_micros).is_some_and(|at| {
                    self.closed_after.is_none_or(|after| at >= to_micros(after))
                        && self
                            .closed_before
                            .is_none_or(|before| at < to_micros(before))
                }))
    }

    /// The same selection in the archive, `limit` rows at most.
    fn archive_query(&self, limit: usize) -> ArchiveQuery {
        ArchiveQuery {
            channel: self.channel.clone(),
            agent: self.agent.clone(),
            closed_after: self.closed_after,
            closed_before: self.closed_before,
            after: self.after.clone(),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }
}

/// A conversation in memory ranked by its list position (newest first = greatest first).
struct Ranked<'a> {
    key: (Timestamp, &'a str),
    conversation: &'a Conversation,
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The `k` newest conversations of `all` that `filter` selects after its cursor, newest
/// first, as the API shows them: one pass over memory keeping the best `k` in a heap (no sort
/// of everything), views built for those only.
fn newest<'a>(
    all: impl Iterator<Item = &'a Conversation>,
    filter: &ListFilter,
    horizon: Timestamp,
    k: usize,
) -> Vec<(Position, ConversationView)> {
    let after = filter.after.as_ref().map(|p| (p.queued_at, p.id.as_str()));
    let mut best: BinaryHeap<Reverse<Ranked<'a>>> = BinaryHeap::with_capacity(k + 1);
    for conversation in all {
        let key = (to_micros(conversation.queued_at), conversation.id.as_str());
        if after.is_some_and(|after| key >= after) {
            continue;
        }
        if best.len() == k && best.peek().is_some_and(|Reverse(worst)| key <= worst.key) {
            continue;
        }
        if !filter.matches(conversation, horizon) {
            continue;
        }
        best.push(Reverse(Ranked { key, conversation }));
        if best.len() > k {
            best.pop();
        }
    }
    best.into_sorted_vec()
        .into_iter()
        .map(|Reverse(ranked)| {
            let c = ranked.conversation;
            (Position::of(c), ConversationView::from(c))
        })
        .collect()
}

/// `GET /v1/conversations?channel=&agent=&state=&closed_after=&closed_before=&limit=&after=`
/// (API.md "Conversations (added)"): open conversations from memory and closed ones from
/// memory and the archive, newest first (`queued_at`, then id), `limit` per page.
///
/// `agent` matches the holder, or an agent a conversation is offered to; `closed_after` is
/// inclusive and `closed_before` exclusive, and either selects closed conversations only.
/// `next` is the position of the page's last conversation (see [`cursor`]): pages never
/// repeat nor skip a conversation, even when conversations close or move to the archive
/// between requests.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    operation_id = "list_conversations",
    tag = "conversations",
    params(ConversationQuery),
    responses((status = 200, description = "One page, newest first", body = ConversationPage)),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    QueryParams(mut query): QueryParams<ConversationQuery>,
) -> Result<Json<ConversationPage>, AppError> {
    // SPEC R26: an agent's credential lists only its own agent's conversations.
    if let Some(own) = caller.only_agent() {
        if query
            .agent
            .as_deref()
            .is_some_and(|asked| asked != own.as_str())
        {
            return Err(AppError::Forbidden(format!(
                "`{}` may list only its own agent's conversations",
                caller.name
            )));
        }
        query.agent = Some(own.as_str().to_owned());
    }
    let filter = ListFilter::parse(query)?;
    let runtime = &state.runtime;
    let horizon = runtime.archive_horizon();
    // One more than a page: whether there is a next page. Memory first, then the archive: a
    // conversation that leaves memory in between was archived before, so it is read there.
    let wanted = filter.limit + 1;
    let mut page =
        runtime.read(|engine| newest(engine.conversations(), &filter, horizon, wanted))?;
    if filter.wants_closed() {
        let stored = runtime
            .store()
            .list_archived(&filter.archive_query(wanted), horizon)
            .await
            .map_err(store_failed)?;
        let in_memory: HashSet<&str> = page.iter().map(|(p, _)| p.id.as_str()).collect();
        let from_archive: Vec<(Position, ConversationView)> = stored
            .iter()
            .filter(|c| !in_memory.contains(c.id.as_str()))
            .map(|c| (Position::of(c), ConversationView::from(c)))
            .collect();
        page.extend(from_archive);
        page.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    }
    let next = if page.len() > filter.limit {
        page.truncate(filter.limit);
        page.last().map(|(position, _)| cursor::write(position))
    } else {
        None
    };
    Ok(Json(ConversationPage {
        conversations: page.into_iter().map(|(_, shown)| shown).collect(),
        next,
    }))
}

/// The list's cursor: `<queued_at in microseconds since 1970>.<the id's UTF-8 bytes in
/// lowercase hex>`, e.g. `1767225600123456.616c696365`: a position in the newest-first order
/// (not an offset), made of characters that need no escaping in a query string.
pub mod cursor {
    use crate::store::archive::Position;

    /// The cursor of `position`.
    pub fn write(position: &Position) -> String {
        let mut text = format!("{}.", position.queued_at.timestamp_micros());
        for byte in position.id.as_bytes() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// The position `text` names, if it is a cursor [`write`] could have made.
    pub fn parse(text: &str) -> Option<Position> {
        let (micros, hex) = text.split_once('.')?;
        if micros.is_empty() || !micros.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let queued_at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        if !openline_core::time::in_range(queued_at) || hex.len() % 2 != 0 {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                let pair = hex.get(i..i + 2)?;
                if !pair.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return None;
                }
                u8::from_str_radix(pair, 16).ok()
            })
            .collect::<Option<Vec<u8>>>()?;
        let id = String::from_utf8(bytes).ok()?;
        openline_core::id::check(&id).ok()?;
        Some(Position { queued_at, id })
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        use super::*;

        #[test]
        fn r21b_cursors_round_trip_and_anything_else_is_refused() {
            let queued_at = chrono::DateTime::from_timestamp(1_767_225_600, 123_456_000).unwrap();
            for id in ["alice", "ünïcødé 💬", "a|b.c&d=e#f"] {
                let position = Position {
                    queued_at,
                    id: id.to_owned(),
                };
                let text = write(&position);
                assert!(
                    text.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b.is_ascii_lowercase()),
                    "{text}"
                );
                assert_eq!(parse(&text), Some(position));
            }
            assert_eq!(
                write(&Position {
                    queued_at,
                    id: "al".into()
                }),
                "1767225600123456.616c"
            );
            for bad in [
                "",
                ".",
                "1767225600123456",
                "1767225600123456.",
                "x.616c",
                "-1.616c",
                "+1.616c",
                "1767225600123456.616",
                "1767225600123456.616C",
                "1767225600123456.zz",
                "1767225600123456.0a",
                "1767225600123456.ff",
                "99999999999999999999.616c",
                "253402300800000000.616c",
                "1767225600123456.616c.616c",
            ] {
                assert_eq!(parse(bad), None, "{bad:?}");
            }
        }
    }
}
