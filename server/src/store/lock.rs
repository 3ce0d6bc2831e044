//! One active server per store. Each server keeps its state in memory and appends to the log;
//! two of them on one log would diverge silently. So a server holds the store's lock while it
//! runs: an exclusive lock on `FILE.lock` beside a SQLite file, or a session-level advisory
//! lock on PostgreSQL. A second server on the same store waits, as a hot standby that follows
//! the log (`runtime::follow`), until the lock is free (the first one stopped or died), then
//! takes over.

use std::time::Duration;

use sqlx::{AnyConnection, Connection, Row};

use super::{StoreError, StoreKind};

/// The advisory lock key on PostgreSQL: "openline" in ASCII.
pub const ADVISORY_KEY: i64 = 0x6f70_656e_6c69_6e65;

/// How often a waiting server tries again.
pub const RETRY: Duration = Duration::from_secs(1);

/// The held lock; released when dropped (or when the process ends, whatever the cause).
#[derive(Debug)]
pub struct StoreLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// An in-memory SQLite database: nobody else can open it.
    Nothing,
    /// The open lock file: the lock lives as long as it is open.
    File { _file: std::fs::File },
    /// The session holding the advisory lock.
    Postgres(AnyConnection),
}

impl StoreLock {
    /// Takes the lock of the store at `url`, or `None` if another server holds it.
    pub async fn try_acquire(url: &str) -> Result<Option<Self>, StoreError> {
        match StoreKind::from_url(url).map_err(StoreError::Url)? {
            StoreKind::Sqlite => try_lock_file(url),
            StoreKind::Postgres => try_lock_postgres(url).await,
        }
    }

    /// Takes the lock, waiting for as long as another server holds it; `on_wait` is called
    /// once, when it turns out to be held. The wait is the database's or the kernel's own (a
    /// blocking advisory lock, a blocking file lock), so the lock is taken the moment its
    /// holder releases it or dies, not at the next poll (SPEC R23b).
    pub async fn acquire(url: &str, on_wait: impl FnOnce()) -> Result<Self, StoreError> {
        if let Some(lock) = Self::try_acquire(url).await? {
            return Ok(lock);
        }
        on_wait();
        loop {
            let waited = match StoreKind::from_url(url).map_err(StoreError::Url)? {
                StoreKind::Sqlite => wait_lock_file(url).await,
                StoreKind::Postgres => wait_lock_postgres(url).await,
            };
            match waited {
                Ok(lock) => return Ok(lock),
                // The waiting session dropped (a database restart, a network blip): wait anew.
                Err(StoreError::Database(error)) => {
                    tracing::warn!(%error, "waiting for the store lock failed; trying again");
                    tokio::time::sleep(RETRY).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Whether the lock is still held: on PostgreSQL, whether its session is alive (if the
    /// session dropped, another server may have taken over and this one must stop).
    pub async fn is_held(&mut self) -> bool {
        match &mut self.held {
            Held::Nothing | Held::File { .. } => true,
            Held::Postgres(connection) => connection.ping().await.is_ok(),
        }
    }
}

/// The database file of a SQLite URL; `None` for an in-memory database.
pub(crate) fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

fn open_lock_file(path: &str) -> Result<(std::fs::File, String), StoreError> {
    let lock_path = format!("{path}.lock");
    let file = super::file::open_owner_only(std::path::Path::new(&lock_path)).map_err(|e| {
        StoreError::Url(format!(
            "cannot open the store's lock file `{lock_path}`: {e}"
        ))
    })?;
    Ok((file, lock_path))
}

fn try_lock_file(url: &str) -> Result<Option<StoreLock>, StoreError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(Some(StoreLock {
            held: Held::Nothing,
        }));
    };
    let (file, lock_path) = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(StoreLock {
            held: Held::File { _file: file },
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Url(format!(
            "cannot lock the store's lock file `{lock_path}`: {e}"
        ))),
    }
}

/// Blocks (on a thread of its own) until the lock file is ours.
async fn wait_lock_file(url: &str) -> Result<StoreLock, StoreError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(StoreLock {
            held: Held::Nothing,
        });
    };
    let (file, lock_path) = open_lock_file(path)?;
    let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| StoreError::Thread(std::io::Error::other(e)))?;
    locked
        .map(|file| StoreLock {
            held: Held::File { _file: file },
        })
        .map_err(|e| {
            StoreError::Url(format!(
                "cannot lock the store's lock file `{lock_path}`: {e}"
            ))
        })
}

/// Waits in the database until the advisory lock is this session's.
async fn wait_lock_postgres(url: &str) -> Result<StoreLock, StoreError> {
    sqlx::any::install_default_drivers();
    let mut connection = AnyConnection::connect(url).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ADVISORY_KEY)
        .execute(&mut connection)
        .await?;
    Ok(StoreLock {
        held: Held::Postgres(connection),
    })
}

async fn try_lock_postgres(url: &str) -> Result<Option<StoreLock>, StoreError> {
    sqlx::any::install_default_drivers();
    let mut connection = AnyConnection::connect(url).await?;
    let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind(ADVISORY_KEY)
        .fetch_one(&mut connection)
        .await?
        .try_get("locked")?;
    if locked {
        Ok(Some(StoreLock {
            held: Held::Postgres(connection),
        }))
    } else {
        let _ = connection.close().await;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://openline.db"), Some("openline.db"));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/o.db?mode=rwc"),
            Some("/var/lib/o.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://"), None);
    }

    async fn one_holder_at_a_time(url: &str) {
        let mut first = StoreLock::try_acquire(url).await.unwrap().expect("free");
        assert!(first.is_held().await);
        assert!(
            StoreLock::try_acquire(url).await.unwrap().is_none(),
            "a second server must not get the lock"
        );
        let (waiting_tx, waiting) = tokio::sync::oneshot::channel();
        let url_owned = url.to_owned();
        let standby = tokio::spawn(async move {
            StoreLock::acquire(&url_owned, move || {
                let _ = waiting_tx.send(());
            })
            .await
        });
        waiting.await.expect("the standby reports that it waits");
        drop(first);
        let taken = standby.await.unwrap().unwrap();
        drop(taken);
        assert!(StoreLock::try_acquire(url).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn sqlite_one_holder_at_a_time() {
        let dir = std::env::temp_dir().join(format!("openline-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/openline.db", dir.display());
        one_holder_at_a_time(&url).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn postgres_one_holder_at_a_time() {
        // Advisory locks belong to one database: a fresh one, like every store test.
        let Some(db) =
            super::super::tests::PgDatabase::create("postgres_one_holder_at_a_time").await
        else {
            return;
        };
        one_holder_at_a_time(&db.url).await;
        db.drop_now().await;
    }
}
