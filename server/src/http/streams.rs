//! An event stream lives no longer than its credential, and one credential holds only so
//! many (SPEC R35c):
//!
//! - **Limit**: a credential (an API token; a JWT subject) holds at most
//!   `server.max_streams_per_credential` open streams; one more is refused 429
//!   `too_many_streams`. A stream's place is freed when it ends, however it ends (the client
//!   went away, the credential ended, the server stops).
//! - **Revocation**: while streams of an API token are open, one task per token asks the
//!   store every [`CHECK_EVERY`] whether the token still exists. The lookup goes through the
//!   token cache, which learns of a revocation by any process on the store (the API, the
//!   command line, another server: `store/token_cache.rs`), so it costs no query while
//!   nothing changed; once the token is gone, its streams end within [`CHECK_EVERY`].
//! - **Expiry**: a stream opened with a JWT ends when the server stops accepting that JWT
//!   (its `exp` plus the clock-skew leeway of [`crate::auth::jwt::LEEWAY_SECONDS`]).
//!
//! - **Local mode ends**: a stream opened without a credential in local mode ends within
//!   [`CHECK_EVERY`] of the first token being created (SPEC R35e: from then on the server is
//!   protected, and an open unauthenticated stream must not go on carrying every event).
//!
//! The unauthenticated caller (local mode, `auth.mode = "none"`) presents no credential:
//! its streams are not counted, as it is not rate-limited either; with `auth.mode = "none"`
//! they never end by themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt as _};
use tokio::sync::watch;

use super::error::AppError;
use crate::store::Store;

/// How often the store is asked whether a token with open streams still exists: a revoked
/// token's streams end within this (SPEC R35c asks for 1 s).
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The credential a request was admitted with, as far as its streams go; the gate puts it in
/// the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// Streams are counted per key: one per API token, one per JWT subject.
    key: String,
    lasts: Lasts,
}

/// How long a credential stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lasts {
    /// An API token, by the hash of its secret: until it is revoked.
    WhileStored { hash: String },
    /// A JWT: until this instant of the wall clock.
    Until(SystemTime),
}

impl Presented {
    /// An API token whose secret hashes to `hash`.
    pub fn token(hash: String) -> Self {
        Self {
            key: format!("token {hash}"),
            lasts: Lasts::WhileStored { hash },
        }
    }

    /// A JWT of `subject`, accepted until `until`.
    pub fn jwt(subject: &str, until: SystemTime) -> Self {
        Self {
            key: format!("jwt {subject}"),
            lasts: Lasts::Until(until),
        }
    }
}

/// The open streams of every credential.
#[derive(Debug)]
pub struct StreamSlots {
    max_per_credential: usize,
    held: Mutex<HashMap<String, Held>>,
    /// While local mode's streams are open: turns true once a token exists.
    local: Mutex<Option<Arc<watch::Sender<bool>>>>,
}

/// One credential's open streams.
#[derive(Debug)]
struct Held {
    open: usize,
    /// Turns true when the credential ends; every stream of it watches.
    ended: Arc<watch::Sender<bool>>,
}

impl StreamSlots {
    /// At most `max_per_credential` open streams per credential.
    pub fn new(max_per_credential: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_credential,
            held: Mutex::new(HashMap::new()),
            local: Mutex::new(None),
        })
    }

    /// A place for one more stream of `presented` (none: the unauthenticated caller, never
    /// limited), named `name` in a refusal; 429 `too_many_streams` when it holds the most
    /// already. The first stream of an API token starts watching the token in `store`.
    pub fn open(
        self: &Arc<Self>,
        presented: Option<&Presented>,
        name: &str,
        store: &Store,
        local_mode: bool,
    ) -> Result<Slot, AppError> {
        let Some(presented) = presented else {
            let ended = match local_mode {
                true => Some(self.while_local(store)?),
                false => None,
            };
            return Ok(Slot {
                held: None,
                ended,
                until: None,
            });
        };
        let mut held = self
            .held
            .lock()
            .map_err(|_| AppError::internal("the stream count's lock was poisoned"))?;
        let entry = held.entry(presented.key.clone()).or_insert_with(|| {
            let ended = Arc::new(watch::Sender::new(false));
            if let Lasts::WhileStored { hash } = &presented.lasts {
                tokio::spawn(watch_token(store.clone(), hash.clone(), ended.clone()));
            }
            Held { open: 0, ended }
        });
        if entry.open >= self.max_per_credential {
            return Err(AppError::TooManyStreams(format!(
                "`{name}` holds {} open event streams already, the most one credential may \
                 hold (`server.max_streams_per_credential`): close one before opening another",
                self.max_per_credential
            )));
        }
        entry.open += 1;
        let ended = entry.ended.subscribe();
        drop(held);
        let until = match &presented.lasts {
            Lasts::Until(until) => Some(*until),
            Lasts::WhileStored { .. } => None,
        };
        Ok(Slot {
            held: Some((self.clone(), presented.key.clone())),
            ended: Some(ended),
            until,
        })
    }

    fn close(&self, key: &str) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if let Some(entry) = held.get_mut(key) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 {
                held.remove(key);
            }
        }
    }
}

/// One stream's place: frees it when dropped; says when the credential ended.
#[derive(Debug)]
pub struct Slot {
    held: Option<(Arc<StreamSlots>, String)>,
    ended: Option<watch::Receiver<bool>>,
    until: Option<SystemTime>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((slots, key)) = &self.held {
            slots.close(key);
        }
    }
}

impl Slot {
    /// Resolves when the credential ends (revoked, or its JWT no longer accepted); never
    /// for the unauthenticated caller.
    fn ended(&self) -> impl Future<Output = ()> + Send + use<> {
        let ended = self.ended.clone();
        let left = self
            .until
            .map(|until| until.duration_since(SystemTime::now()).unwrap_or_default());
        async move {
            let revoked = async {
                match ended {
                    // An error: the watcher is gone, so the credential can no longer be
                    // checked; the stream ends (the client reconnects and authenticates).
                    Some(mut ended) => drop(ended.wait_for(|ended| *ended).await),
                    None => std::future::pending().await,
                }
            };
            let expired = async {
                match left {
                    Some(left) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = revoked => {}
                () = expired => {}
            }
        }
    }

    /// `stream`, ended when the credential ends, holding this place while it lasts.
    pub fn hold<S: Stream>(self, stream: S) -> impl Stream<Item = S::Item> {
        let ended = self.ended();
        stream.take_until(ended).map(move |item| {
            let _place = &self;
            item
        })
    }
}

/// Asks the store every [`CHECK_EVERY`] whether the token of `hash` still exists, while
/// some stream watches `ended`; once it is gone, sets `ended`.
impl StreamSlots {
    /// A watch that turns true once a token exists in `store`, for a stream of local mode;
    /// the first such stream starts the one task that asks.
    fn while_local(self: &Arc<Self>, store: &Store) -> Result<watch::Receiver<bool>, AppError> {
        let mut local = self
            .local
            .lock()
            .map_err(|_| AppError::internal("the stream count's lock was poisoned"))?;
        let sender = local.get_or_insert_with(|| {
            let ended = Arc::new(watch::Sender::new(false));
            tokio::spawn(watch_local_mode(
                Arc::downgrade(self),
                store.clone(),
                ended.clone(),
            ));
            ended
        });
        Ok(sender.subscribe())
    }
}

/// Ends local mode's streams once a token was created in `store`; stops when none is open.
async fn watch_local_mode(
    slots: std::sync::Weak<StreamSlots>,
    store: Store,
    ended: Arc<watch::Sender<bool>>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(slots) = slots.upgrade() else { return };
        {
            let Ok(mut local) = slots.local.lock() else {
                return;
            };
            // Under the lock a new stream subscribes with: none is left behind.
            if ended.receiver_count() == 0 {
                *local = None;
                return;
            }
        }
        match store.token_ever_created().await {
            Ok(true) => {
                ended.send_replace(true);
                if let Ok(mut local) = slots.local.lock() {
                    *local = None;
                }
                return;
            }
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "cannot check whether a token exists"),
        }
    }
}

async fn watch_token(store: Store, hash: String, ended: Arc<watch::Sender<bool>>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if ended.receiver_count() == 0 && Arc::strong_count(&ended) == 1 {
            return; // no stream left, and no new one can subscribe
        }
        match store.token_for_hash(&hash).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                ended.send_replace(true);
                return;
            }
            // The store is unreachable: nothing can be revoked in it now either.
            Err(error) => tracing::debug!(%error, "cannot check a streaming token"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::store::tests::TempDb;

    #[tokio::test]
    async fn r35c_a_credential_holds_at_most_its_streams_and_a_closed_one_frees_its_place() {
        let db = TempDb::new();
        let store = Store::connect(&db.url()).await.unwrap();
        let slots = StreamSlots::new(2);
        let a = Presented::jwt("a", SystemTime::now() + Duration::from_secs(60));
        let b = Presented::jwt("b", SystemTime::now() + Duration::from_secs(60));
        let first = slots.open(Some(&a), "a", &store, false).unwrap();
        let _second = slots.open(Some(&a), "a", &store, false).unwrap();
        let refused = slots.open(Some(&a), "a", &store, false).unwrap_err();
        assert_eq!(refused.code(), "too_many_streams");
        assert!(refused.message().contains("2 open"), "{refused}");
        let _other = slots.open(Some(&b), "b", &store, false).unwrap();
        for _ in 0..5 {
            slots.open(None, "local", &store, true).unwrap();
        }
        drop(first);
        let _third = slots.open(Some(&a), "a", &store, false).unwrap();
    }

    #[tokio::test]
    async fn r35c_a_jwt_stream_ends_when_the_jwt_does() {
        let db = TempDb::new();
        let store = Store::connect(&db.url()).await.unwrap();
        let slots = StreamSlots::new(2);
        let soon = Presented::jwt("a", SystemTime::now() + Duration::from_millis(50));
        let slot = slots.open(Some(&soon), "a", &store, false).unwrap();
        let mut items = Box::pin(slot.hold(futures_util::stream::pending::<()>()));
        let ended = tokio::time::timeout(Duration::from_secs(5), items.next()).await;
        assert_eq!(ended.unwrap(), None, "the stream ended");
        drop(items);
        assert!(slots.held.lock().unwrap().is_empty(), "its place was freed");
    }
}
