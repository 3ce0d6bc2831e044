//! Verified tokens kept in memory (SPEC R25), so that a request costs no store query, while a
//! token created or revoked by any process — the API, `openline token` beside a running
//! server, another server on the same store — counts from the next request on:
//!
//! - **SQLite**: every create or revoke rewrites a marker file beside the database
//!   (`<file>.tokens`) after its commit; each lookup compares the marker's metadata (one
//!   `stat`) with what it was when the cache was filled, and empties the cache if it moved.
//! - **PostgreSQL**: every create or revoke sends `NOTIFY openline_tokens` in its
//!   transaction; a listener empties the cache when it arrives (milliseconds after the
//!   commit). While the listener is not connected, nothing is cached.
//!
//! Entries also expire after [`MAX_AGE`], in case a change bypassed both signals (a row
//! deleted by hand). Only tokens found are cached, at most [`MAX_ENTRIES`]: unknown secrets
//! always ask the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::auth::token::TokenInfo;

/// The longest a cached token is trusted without asking the store.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// The most tokens cached; beyond, the cache starts over.
pub const MAX_ENTRIES: usize = 10_000;
/// The PostgreSQL notification channel of token changes.
pub const CHANNEL: &str = "openline_tokens";

/// What says the tokens changed since the cache was filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// The SQLite marker's metadata (`None`: no marker yet).
    Marker(Option<(SystemTime, u64, u64)>),
    /// The number of notifications received (PostgreSQL).
    Notified(u64),
}

/// How changes are signalled.
#[derive(Debug)]
enum Signal {
    Marker(std::path::PathBuf),
    Notify {
        url: String,
        started: OnceLock<()>,
        listening: AtomicBool,
        generation: AtomicU64,
    },
    /// No way to learn of changes (an in-memory SQLite database): nothing is cached.
    None,
}

#[derive(Debug, Default)]
struct Entries {
    stamp: Option<Stamp>,
    tokens: HashMap<String, (TokenInfo, Instant)>,
}

/// The cache of one store.
#[derive(Debug)]
pub struct TokenCache {
    signal: Signal,
    entries: Mutex<Entries>,
}

impl TokenCache {
    /// The cache for the store at `url`.
    pub fn new(url: &str) -> Self {
        let signal = if let Some(path) = super::lock::sqlite_path(url) {
            Signal::Marker(format!("{path}.tokens").into())
        } else if url.starts_with("postgres") {
            Signal::Notify {
                url: url.to_owned(),
                started: OnceLock::new(),
                listening: AtomicBool::new(false),
                generation: AtomicU64::new(0),
            }
        } else {
            Signal::None
        };
        Self {
            signal,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Where the tokens stand now, `None` when changes cannot be learnt of.
    fn stamp(&self) -> Option<Stamp> {
        match &self.signal {
            Signal::Marker(path) => Some(Stamp::Marker(std::fs::metadata(path).ok().map(|m| {
                use std::os::unix::fs::MetadataExt as _;
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.len(),
                    m.ino(),
                )
            }))),
            Signal::Notify {
                url,
                started,
                listening,
                generation,
            } => {
                started.get_or_init(|| {
                    tokio::spawn(listen(url.clone()));
                });
                listening
                    .load(Ordering::SeqCst)
                    .then(|| Stamp::Notified(generation.load(Ordering::SeqCst)))
            }
            Signal::None => None,
        }
    }

    /// Whether lookups can be cached now (PostgreSQL: the listener is connected).
    #[cfg(test)]
    pub(crate) fn is_live(&self) -> bool {
        self.stamp().is_some()
    }

    /// The cached token of secret hash `hash`, if cached, fresh and unchanged since, and
    /// the stamp to [`TokenCache::insert`] a token read from the store under.
    pub(crate) fn get(&self, hash: &str) -> (Option<TokenInfo>, Option<Stamp>) {
        let Some(stamp) = self.stamp() else {
            return (None, None);
        };
        let Ok(mut entries) = self.entries.lock() else {
            return (None, None);
        };
        if entries.stamp != Some(stamp) {
            entries.tokens.clear();
            entries.stamp = Some(stamp);
        }
        let found = entries
            .tokens
            .get(hash)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(token, _)| token.clone());
        (found, Some(stamp))
    }

    /// Keeps `token` (read from the store after [`TokenCache::get`] returned `stamp`); not
    /// if the tokens changed meanwhile.
    pub(crate) fn insert(&self, hash: String, token: TokenInfo, stamp: Option<Stamp>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if stamp.is_none() || entries.stamp != stamp {
            return;
        }
        if entries.tokens.len() >= MAX_ENTRIES {
            entries.tokens.clear();
        }
        entries.tokens.insert(hash, (token, Instant::now()));
    }

    /// Forgets every token (this process changed one).
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.tokens.clear();
        }
    }

    /// Tells every process on the store that tokens changed (SQLite: rewrites the marker;
    /// PostgreSQL: the `NOTIFY` went with the transaction). Fails only when the marker
    /// cannot be written.
    pub(crate) fn signal_change(&self) -> std::io::Result<()> {
        self.clear();
        match &self.signal {
            Signal::Marker(path) => {
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                // Written beside and renamed over: a new inode each time, whatever the
                // file system's timestamp resolution.
                let fresh = path.with_extension(format!("tokens.{}", std::process::id()));
                super::file::write_owner_only(&fresh, format!("{nanos}\n").as_bytes())?;
                std::fs::rename(&fresh, path)
            }
            Signal::Notify { .. } | Signal::None => Ok(()),
        }
    }

    fn notified(&self) {
        if let Signal::Notify { generation, .. } = &self.signal {
            generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn set_listening(&self, on: bool) {
        if let Signal::Notify {
            listening,
            generation,
            ..
        } = &self.signal
        {
            generation.fetch_add(1, Ordering::SeqCst);
            listening.store(on, Ordering::SeqCst);
        }
    }
}

/// The caches listening on each PostgreSQL URL of this process.
fn caches() -> &'static Mutex<Vec<std::sync::Weak<TokenCache>>> {
    static CACHES: OnceLock<Mutex<Vec<std::sync::Weak<TokenCache>>>> = OnceLock::new();
    CACHES.get_or_init(Default::default)
}

/// Registers `cache` for the notifications of its store.
pub(crate) fn register(cache: &std::sync::Arc<TokenCache>) {
    if let (Signal::Notify { .. }, Ok(mut all)) = (&cache.signal, caches().lock()) {
        all.retain(|weak| weak.strong_count() > 0);
        all.push(std::sync::Arc::downgrade(cache));
    }
}

fn each_cache_of(url: &str, act: impl Fn(&TokenCache)) {
    if let Ok(all) = caches().lock() {
        for cache in all.iter().filter_map(std::sync::Weak::upgrade) {
            if matches!(&cache.signal, Signal::Notify { url: u, .. } if u == url) {
                act(&cache);
            }
        }
    }
}

/// Listens for token changes on the PostgreSQL store at `url`, reconnecting after a failure;
/// caches of that store trust nothing while it is not connected.
async fn listen(url: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    each_cache_of(&url, |cache| cache.set_listening(true));
                    // `None`: the connection was lost (notifications may have been missed);
                    // a fresh listener, and a fresh cache once it listens.
                    while let Ok(Some(_)) = listener.try_recv().await {
                        each_cache_of(&url, TokenCache::notified);
                    }
                    each_cache_of(&url, |cache| cache.set_listening(false));
                }
                Err(error) => tracing::warn!(%error, "cannot listen for token changes"),
            },
            Err(error) => tracing::debug!(%error, "cannot connect the token-change listener"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::auth::token::Role;

    fn token(name: &str) -> TokenInfo {
        TokenInfo {
            name: name.into(),
            role: Role::Admin,
            agent: None,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    fn marker_cache() -> (TokenCache, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("openline-cache-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        (TokenCache::new(&format!("sqlite://{}", db.display())), dir)
    }

    #[test]
    fn r25_every_found_token_is_kept_until_a_change_is_signalled() {
        let (cache, dir) = marker_cache();
        for name in ["a", "b", "c"] {
            let (found, stamp) = cache.get(name);
            assert!(found.is_none());
            cache.insert(name.into(), token(name), stamp);
        }
        for name in ["a", "b", "c"] {
            assert_eq!(
                cache.get(name).0.unwrap().name,
                name,
                "all kept, not the last only"
            );
        }
        cache.signal_change().unwrap();
        assert!(cache.get("a").0.is_none(), "a change empties the cache");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn r25_a_token_read_before_a_change_is_not_kept_after_it() {
        let (cache, dir) = marker_cache();
        let (_, before) = cache.get("a");
        // Another process revokes between our store read and our insert ...
        let other = TokenCache::new(&format!("sqlite://{}", dir.join("x.db").display()));
        other.signal_change().unwrap();
        let (_, after) = cache.get("b"); // ... and a later lookup saw the change.
        assert_ne!(before, after);
        cache.insert("a".into(), token("a"), before);
        assert!(
            cache.get("a").0.is_none(),
            "what was read before the change is dropped"
        );
        cache.insert("b".into(), token("b"), after);
        assert!(cache.get("b").0.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn nothing_is_cached_without_a_way_to_learn_of_changes() {
        let cache = TokenCache::new("sqlite::memory:");
        let (_, stamp) = cache.get("a");
        assert_eq!(stamp, None);
        cache.insert("a".into(), token("a"), stamp);
        assert!(cache.get("a").0.is_none());
        // A PostgreSQL cache trusts nothing until its listener listens.
        let pg = TokenCache::new("postgres://nobody@127.0.0.1:1/none");
        pg.set_listening(false);
        assert!(!pg.is_live());
    }
}
