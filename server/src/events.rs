//! Server-Sent Events (API.md "Events"; SPEC R29): every engine [`Event`] gets an id and its
//! JSON from the store writer, which retains it in the transaction of the commands that
//! caused it, then sends it once on a bounded broadcast channel; each subscriber filters by
//! agent and channel. A subscriber resuming after an id reads what it missed from the store
//! first; one that falls behind the live stream catches up from the store too. Slow
//! subscribers never block routing.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse;
use futures_util::Stream;
use openline_core::Event;
use tokio::sync::{broadcast, watch};

use crate::changes::Changed;
use crate::store::events::EventFilter;
use crate::store::{Store, StoreError};

/// How many events a subscriber may fall behind before it lags.
pub const CAPACITY: usize = 4096;

/// What the store writer numbers, retains and publishes: the engine's events and the
/// settings changes reported beside them (API.md third wave, "Events").
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Something the engine did (routing, availability).
    Engine(Event),
    /// A channel's or an agent's settings changed (`channel.changed`, `agent.changed`).
    Changed(Box<Changed>),
}

impl From<Event> for Outgoing {
    fn from(event: Event) -> Self {
        Self::Engine(event)
    }
}

impl From<Changed> for Outgoing {
    fn from(changed: Changed) -> Self {
        Self::Changed(Box::new(changed))
    }
}

/// One published event with its id (SPEC R29), shared by every subscriber; its JSON is
/// made once, by the store writer, which also retains it.
#[derive(Debug)]
pub struct Published {
    id: i64,
    what: Outgoing,
    json: String,
}

impl Published {
    /// Event `what` numbered `id`: its JSON is the event's with `"id": "<id>"` first.
    pub fn new(id: i64, what: impl Into<Outgoing>) -> Self {
        let what = what.into();
        let body = match &what {
            Outgoing::Engine(event) => serde_json::to_string(event),
            Outgoing::Changed(changed) => changed.to_json(),
        }
        .unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#));
        // An event is a JSON object with at least its `type`: `{"type":…}`.
        let json = match body.strip_prefix('{') {
            Some(rest) => format!(r#"{{"id":"{id}",{rest}"#),
            None => body,
        };
        Self { id, what, json }
    }

    /// Its id: ids increase in the order events happen.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The engine's event, unless this is a settings change.
    pub fn event(&self) -> Option<&Event> {
        match &self.what {
            Outgoing::Engine(event) => Some(event),
            Outgoing::Changed(_) => None,
        }
    }

    /// The SSE event name, e.g. `conversation.offered`.
    pub fn kind(&self) -> &'static str {
        match &self.what {
            Outgoing::Engine(event) => event.kind(),
            Outgoing::Changed(changed) => changed.kind(),
        }
    }

    /// When it happened.
    pub fn at(&self) -> openline_core::Timestamp {
        match &self.what {
            Outgoing::Engine(event) => event.at(),
            Outgoing::Changed(changed) => changed.at(),
        }
    }

    /// The agent it concerns, if any.
    pub fn agent(&self) -> Option<&str> {
        match &self.what {
            Outgoing::Engine(event) => event.agent().map(|agent| agent.as_str()),
            Outgoing::Changed(changed) => changed.agent(),
        }
    }

    /// The channel it concerns, if any (every engine event has one; `agent.changed` none).
    pub fn channel(&self) -> Option<&str> {
        match &self.what {
            Outgoing::Engine(event) => Some(event.channel().as_str()),
            Outgoing::Changed(changed) => changed.channel(),
        }
    }

    /// The event as JSON, with its `id` and `type`.
    pub fn data(&self) -> &str {
        &self.json
    }
}

/// The fan-out of engine events to SSE subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Published>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl EventBus {
    /// A bus keeping at most `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Sends `events` to every current subscriber (none is fine).
    pub fn publish(&self, events: &[Arc<Published>]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for event in events {
            let _ = self.tx.send(event.clone());
        }
    }

    /// A new subscription, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }
}

/// What a subscriber wants to see (`?agent=` and/or `?channel=`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only events concerning this agent.
    pub agent: Option<String>,
    /// Only events of this channel.
    pub channel: Option<String>,
}

impl Filter {
    /// Whether `event` passes.
    pub fn matches(&self, published: &Published) -> bool {
        self.agent
            .as_deref()
            .is_none_or(|a| published.agent() == Some(a))
            && self
                .channel
                .as_deref()
                .is_none_or(|c| published.channel() == Some(c))
    }
}

impl Filter {
    /// The same selection for reading retained events.
    pub fn stored(&self) -> EventFilter<'_> {
        EventFilter {
            agent: self.agent.as_deref(),
            channel: self.channel.as_deref(),
        }
    }
}

/// Retained events read per store query while a subscriber catches up.
const CATCH_UP_PAGE: i64 = 512;

/// One subscriber's stream: what it still has to send, where it stands.
struct Subscriber {
    rx: broadcast::Receiver<Arc<Published>>,
    filter: Filter,
    shutdown: watch::Receiver<bool>,
    store: Store,
    /// Resume after this id: checked against what is retained before anything is sent.
    resume: Option<i64>,
    /// Retained events after this id are still to be read from the store.
    backlog: Option<i64>,
    /// The last event id sent or passed over: live events up to it were sent already.
    last: Option<i64>,
    queue: VecDeque<sse::Event>,
}

fn sse_event(id: i64, kind: &str, data: &str) -> sse::Event {
    sse::Event::default()
        .id(id.to_string())
        .event(kind)
        .data(data)
}

impl Subscriber {
    /// Where resuming after `after` starts, given what is retained: an `event: reset` first
    /// when events after it are gone (older than retention) or it is no id of this store.
    async fn start_after(&mut self, after: i64) -> Result<(), StoreError> {
        let bounds = self.store.event_bounds().await?;
        let newest = bounds.next - 1;
        let purged = after < newest && bounds.oldest.is_none_or(|oldest| after + 1 < oldest);
        let from = if after > newest || purged {
            let from = bounds.oldest.map_or(newest, |oldest| oldest - 1).max(0);
            let data = format!(
                r#"{{"after":"{}"}}"#,
                bounds.oldest.unwrap_or(newest).max(0)
            );
            self.queue
                .push_back(sse::Event::default().event("reset").data(data));
            from
        } else {
            after
        };
        self.backlog = Some(from);
        self.last = Some(from);
        Ok(())
    }

    /// Reads the next page of the backlog into the queue.
    async fn catch_up(&mut self, after: i64) -> Result<(), StoreError> {
        let page = self
            .store
            .events_after(after, self.filter.stored(), CATCH_UP_PAGE)
            .await?;
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= CATCH_UP_PAGE;
        for event in &page {
            self.queue
                .push_back(sse_event(event.id, &event.kind, &event.data));
        }
        let reached = page.last().map_or(after, |event| event.id);
        self.last = Some(self.last.map_or(reached, |last| last.max(reached)));
        self.backlog = full.then_some(reached);
        Ok(())
    }

    /// The next SSE event; `None` when the stream ends (shutdown, or the store failed while
    /// catching up: the client reconnects with `Last-Event-ID`).
    async fn next(&mut self) -> Option<sse::Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if *self.shutdown.borrow() {
                return None;
            }
            let caught_up = match (self.resume.take(), self.backlog) {
                (Some(after), _) => self.start_after(after).await,
                (None, Some(after)) => self.catch_up(after).await,
                (None, None) => Ok(()),
            };
            if let Err(error) = caught_up {
                tracing::warn!(%error, "reading retained events failed: ending the stream");
                return None;
            }
            if !self.queue.is_empty() || self.backlog.is_some() {
                continue;
            }
            let next = tokio::select! {
                next = self.rx.recv() => next,
                _ = self.shutdown.changed() => return None,
            };
            match next {
                Ok(event) => {
                    if self.last.is_some_and(|last| event.id() <= last) {
                        continue; // sent from the store already
                    }
                    self.last = Some(event.id());
                    if self.filter.matches(&event) {
                        return Some(sse_event(event.id(), event.kind(), event.data()));
                    }
                }
                // Fallen behind the live stream: what it missed is read from the store.
                Err(broadcast::error::RecvError::Lagged(missed)) => match self.last {
                    Some(last) => self.backlog = Some(last),
                    None => {
                        return Some(
                            sse::Event::default()
                                .event("lagged")
                                .data(format!(r#"{{"missed":{missed}}}"#)),
                        );
                    }
                },
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The SSE stream of one subscriber (SPEC R29): with `after`, first every retained event
/// after that id (an `event: reset` first if some are no longer retained), then the live
/// stream, with no gap and no duplicate; each event with its `id:` line. A subscriber that
/// falls behind the live stream catches up from the store. It ends when `shutdown` turns
/// true.
pub fn stream(
    rx: broadcast::Receiver<Arc<Published>>,
    filter: Filter,
    after: Option<i64>,
    store: Store,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    let subscriber = Subscriber {
        rx,
        filter,
        shutdown,
        store,
        resume: after,
        backlog: None,
        last: None,
        queue: VecDeque::new(),
    };
    futures_util::stream::unfold(subscriber, |mut subscriber| async move {
        let event = subscriber.next().await?;
        Some((Ok(event), subscriber))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::store::tests::TempDb;
    use futures_util::StreamExt;

    /// The wire text of an SSE event.
    fn text(event: sse::Event) -> String {
        format!("{event:?}").replace("\\\"", "\"")
    }

    fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 0).unwrap()
    }

    fn queued(id: i64, channel: &str) -> Arc<Published> {
        Arc::new(Published::new(
            id,
            Event::Queued {
                at: at(id),
                conversation: format!("c{id}").as_str().try_into().unwrap(),
                channel: channel.try_into().unwrap(),
            },
        ))
    }

    /// A store holding events 1..=n (channel `web` for even ids, `mail` for odd), committed.
    async fn store_with(db: &TempDb, n: i64) -> (Store, Vec<Arc<Published>>) {
        let store = Store::connect(&db.url()).await.unwrap();
        let epoch = store.claim().await.unwrap();
        let events: Vec<_> = (1..=n)
            .map(|id| queued(id, if id % 2 == 0 { "web" } else { "mail" }))
            .collect();
        let refs: Vec<&Published> = events.iter().map(|e| &**e).collect();
        store
            .write_with_events(epoch, 1, [], &refs, true, false)
            .await
            .unwrap();
        (store, events)
    }

    fn ids_of(texts: &[String]) -> Vec<String> {
        texts
            .iter()
            .map(|t| {
                let start = t.find("id: ").map(|i| i + 4).unwrap_or(0);
                t[start..].split(['\\', '\n']).next().unwrap().to_owned()
            })
            .collect()
    }

    async fn take(
        events: &mut (impl Stream<Item = Result<sse::Event, Infallible>> + Unpin),
        n: usize,
    ) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..n {
            got.push(text(events.next().await.unwrap().unwrap()));
        }
        got
    }

    #[test]
    fn r29_the_json_carries_the_id_first() {
        let event = queued(42, "web");
        assert!(
            event
                .data()
                .starts_with(r#"{"id":"42","type":"conversation.queued""#),
            "{}",
            event.data()
        );
        assert_eq!(event.id(), 42);
    }

    #[tokio::test]
    async fn r29_resuming_sends_the_retained_events_then_the_live_ones_without_duplicates() {
        let db = TempDb::new();
        let (store, published) = store_with(&db, 6).await;
        let bus = EventBus::new(16);
        let (_stop, shutdown) = watch::channel(false);
        let rx = bus.subscribe();
        // Events 5 and 6 were committed and are published after the subscription: they come
        // from the store and are not sent twice.
        bus.publish(&published[4..]);
        bus.publish(&[queued(7, "web")]);
        let mut events = Box::pin(stream(rx, Filter::default(), Some(3), store, shutdown));
        let got = take(&mut events, 4).await;
        assert_eq!(ids_of(&got), ["4", "5", "6", "7"], "{got:?}");
        assert!(got[0].contains("event: conversation.queued"), "{}", got[0]);
    }

    #[tokio::test]
    async fn r29_resuming_with_a_filter_reads_only_matching_retained_events() {
        let db = TempDb::new();
        let (store, _) = store_with(&db, 6).await;
        let bus = EventBus::new(16);
        let (_stop, shutdown) = watch::channel(false);
        let filter = Filter {
            agent: None,
            channel: Some("web".into()),
        };
        let mut events = Box::pin(stream(bus.subscribe(), filter, Some(0), store, shutdown));
        let got = take(&mut events, 3).await;
        assert_eq!(ids_of(&got), ["2", "4", "6"]);
        bus.publish(&[queued(7, "mail"), queued(8, "web")]);
        assert_eq!(ids_of(&take(&mut events, 1).await), ["8"]);
    }

    #[tokio::test]
    async fn r29_an_id_no_longer_retained_or_unknown_yields_a_reset_first() {
        let db = TempDb::new();
        let (store, _) = store_with(&db, 6).await;
        assert_eq!(
            store.purge_events(at(4), 100).await.unwrap(),
            3,
            "1, 2, 3 go"
        );
        let bus = EventBus::new(16);
        let (_stop, shutdown) = watch::channel(false);
        let mut events = Box::pin(stream(
            bus.subscribe(),
            Filter::default(),
            Some(1),
            store.clone(),
            shutdown.clone(),
        ));
        let got = take(&mut events, 4).await;
        assert!(
            got[0].contains("event: reset") && got[0].contains(r#"{"after":"4"}"#),
            "{}",
            got[0]
        );
        assert_eq!(ids_of(&got[1..]), ["4", "5", "6"]);

        // Retained from 4 on: resuming after 3 misses nothing, so no reset.
        let mut events = Box::pin(stream(
            bus.subscribe(),
            Filter::default(),
            Some(3),
            store.clone(),
            shutdown.clone(),
        ));
        assert_eq!(ids_of(&take(&mut events, 1).await), ["4"]);

        // An id this store never gave (another store's?): a reset, then every retained event.
        let mut events = Box::pin(stream(
            bus.subscribe(),
            Filter::default(),
            Some(99),
            store,
            shutdown,
        ));
        let got = take(&mut events, 4).await;
        assert!(
            got[0].contains("event: reset") && got[0].contains(r#"{"after":"4"}"#),
            "{}",
            got[0]
        );
        assert_eq!(ids_of(&got[1..]), ["4", "5", "6"]);
        bus.publish(&[queued(7, "web")]);
        assert_eq!(ids_of(&take(&mut events, 1).await), ["7"]);
    }

    #[tokio::test]
    async fn r29_resuming_after_the_newest_id_is_no_reset_even_once_everything_was_purged() {
        let db = TempDb::new();
        let (store, _) = store_with(&db, 6).await;
        assert_eq!(
            store.purge_events(at(100), 100).await.unwrap(),
            6,
            "all gone"
        );
        let bus = EventBus::new(16);
        let (_stop, shutdown) = watch::channel(false);
        // Caught up with 6, the newest: nothing was missed, so no reset; the live stream goes on.
        let mut events = Box::pin(stream(
            bus.subscribe(),
            Filter::default(),
            Some(6),
            store,
            shutdown,
        ));
        bus.publish(&[queued(7, "web")]);
        let got = take(&mut events, 1).await;
        assert!(!got[0].contains("reset"), "{}", got[0]);
        assert_eq!(ids_of(&got), ["7"]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_store_without_a_gap() {
        let db = TempDb::new();
        let (store, published) = store_with(&db, 6).await;
        let bus = EventBus::new(2);
        let (_stop, shutdown) = watch::channel(false);
        let mut events = Box::pin(stream(
            bus.subscribe(),
            Filter::default(),
            None,
            store,
            shutdown,
        ));
        bus.publish(&published[..1]);
        assert_eq!(ids_of(&take(&mut events, 1).await), ["1"]);
        bus.publish(&published[1..]); // 5 events into a bus of 2: it lags
        assert_eq!(
            ids_of(&take(&mut events, 5).await),
            ["2", "3", "4", "5", "6"]
        );
    }

    #[tokio::test]
    async fn filters_by_channel_and_ends_on_shutdown() {
        let db = TempDb::new();
        let store = Store::connect(&db.url()).await.unwrap();
        let bus = EventBus::new(16);
        let (stop, shutdown) = watch::channel(false);
        let filter = Filter {
            agent: None,
            channel: Some("web".into()),
        };
        let mut events = Box::pin(stream(bus.subscribe(), filter, None, store, shutdown));
        bus.publish(&[queued(1, "other"), queued(2, "web")]);
        let got = text(events.next().await.unwrap().unwrap());
        assert!(
            got.contains(r#""channel":"web""#) && got.contains("id: 2"),
            "{got}"
        );
        stop.send(true).unwrap();
        assert!(events.next().await.is_none());
    }
}
