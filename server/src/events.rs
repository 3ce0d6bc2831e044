//! Server-Sent Events (API.md "Events"): every engine [`Event`] is sent once on a bounded
//! broadcast channel; each subscriber filters by agent and channel. An event is serialized to
//! JSON at most once, by the first subscriber that wants it, so publishing (on the store
//! writer's path, before the acknowledgement) costs no serialization. A subscriber that falls
//! behind gets an `event: lagged` message saying how many it missed and continues; slow
//! subscribers never block routing.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::response::sse;
use futures_util::Stream;
use openline_core::Event;
use tokio::sync::{broadcast, watch};

/// How many events a subscriber may fall behind before it lags.
pub const CAPACITY: usize = 4096;

/// One published event, shared by every subscriber.
#[derive(Debug)]
pub struct Published {
    event: Event,
    json: OnceLock<String>,
}

impl Published {
    /// The SSE event name, e.g. `conversation.offered`.
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }

    /// The event as JSON (with its `type`), serialized on first use.
    pub fn data(&self) -> &str {
        self.json.get_or_init(|| {
            serde_json::to_string(&self.event).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
        })
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
    pub fn publish(&self, events: Vec<Event>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for event in events {
            let published = Published {
                event,
                json: OnceLock::new(),
            };
            let _ = self.tx.send(Arc::new(published));
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
        let event = &published.event;
        self.agent
            .as_deref()
            .is_none_or(|a| event.agent().map(|agent| &**agent) == Some(a))
            && self
                .channel
                .as_deref()
                .is_none_or(|c| &**event.channel() == c)
    }
}

/// The SSE stream of one subscriber; it ends when `shutdown` turns true.
pub fn stream(
    rx: broadcast::Receiver<Arc<Published>>,
    filter: Filter,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    futures_util::stream::unfold(
        (rx, filter, shutdown),
        |(mut rx, filter, mut shutdown)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                let next = tokio::select! {
                    next = rx.recv() => next,
                    _ = shutdown.changed() => return None,
                };
                let event = match next {
                    Ok(event) if filter.matches(&event) => {
                        sse::Event::default().event(event.kind()).data(event.data())
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => sse::Event::default()
                        .event("lagged")
                        .data(format!(r#"{{"missed":{missed}}}"#)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, filter, shutdown)));
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use futures_util::StreamExt;

    /// The wire text of an SSE event.
    fn text(event: sse::Event) -> String {
        format!("{event:?}").replace("\\\"", "\"")
    }

    fn queued(channel: &str) -> Event {
        Event::Queued {
            at: chrono::Utc::now(),
            conversation: "c".try_into().unwrap(),
            channel: channel.try_into().unwrap(),
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_continues() {
        let bus = EventBus::new(2);
        let (_stop, shutdown) = watch::channel(false);
        let mut events = Box::pin(stream(bus.subscribe(), Filter::default(), shutdown));
        bus.publish(vec![queued("a"), queued("b"), queued("c"), queued("d")]);
        let first = text(events.next().await.unwrap().unwrap());
        assert!(
            first.contains("lagged") && first.contains(r#""missed":2"#),
            "{first}"
        );
        let next = text(events.next().await.unwrap().unwrap());
        assert!(
            next.contains("conversation.queued") && next.contains(r#""channel":"c""#),
            "{next}"
        );
    }

    #[tokio::test]
    async fn filters_by_channel_and_ends_on_shutdown() {
        let bus = EventBus::new(16);
        let (stop, shutdown) = watch::channel(false);
        let filter = Filter {
            agent: None,
            channel: Some("web".into()),
        };
        let mut events = Box::pin(stream(bus.subscribe(), filter, shutdown));
        bus.publish(vec![queued("other"), queued("web")]);
        let got = text(events.next().await.unwrap().unwrap());
        assert!(got.contains(r#""channel":"web""#), "{got}");
        stop.send(true).unwrap();
        assert!(events.next().await.is_none());
    }
}
