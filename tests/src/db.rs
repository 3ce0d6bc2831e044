//! Store backends under test: SQLite always; PostgreSQL when `OPENLINE_TEST_DATABASE_URL`
//! names a server, with a fresh database per test, dropped afterwards.

use std::sync::Arc;

use sqlx::Connection;

/// The environment variable naming a PostgreSQL server for the PostgreSQL variants.
pub const PG_ENV: &str = "OPENLINE_TEST_DATABASE_URL";

/// Which store a test server uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in the server's temp dir (kept across restarts of that server).
    Sqlite,
    /// A fresh PostgreSQL database, dropped when the last handle goes.
    Postgres(Arc<PgDatabase>),
}

impl Backend {
    /// SQLite.
    pub fn sqlite() -> Self {
        Self::Sqlite
    }

    /// A fresh PostgreSQL database, or `None` after printing why the variant is skipped.
    pub fn postgres() -> Option<Self> {
        postgres_url().map(|url| Self::Postgres(Arc::new(PgDatabase::create(&url))))
    }

    /// The `[store] url` for this backend (`None` = the server's own SQLite file).
    pub fn url(&self) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(db) => Some(db.url.clone()),
        }
    }
}

/// The PostgreSQL server named by [`PG_ENV`]; without it `None`, after printing that the
/// PostgreSQL variant is skipped (never a silent pass) — and under `CI=true` the test fails:
/// CI must run them.
pub fn postgres_url() -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{PG_ENV} is not set under CI=true: the PostgreSQL tests must run in CI")
        }
        _ => {
            println!("skipping PostgreSQL: {PG_ENV} not set");
            None
        }
    }
}

/// Defines the two variants of a store-dependent test: `$sqlite` runs `$scenario` (a
/// `fn(&Backend)`) on [`Backend::sqlite`], `$postgres` on [`Backend::postgres`] — and passes
/// without running it when no PostgreSQL server is configured.
///
/// `backend_tests!(scenario: name_sqlite, name_postgres);`
#[macro_export]
macro_rules! backend_tests {
    ($scenario:ident: $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(&$crate::Backend::sqlite());
        }

        #[test]
        fn $postgres() {
            if let Some(backend) = $crate::Backend::postgres() {
                $scenario(&backend);
            }
        }
    };
}

/// A PostgreSQL database created for one test.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

/// Runs one statement on the server at `admin_url` over a connection of its own, to the end.
fn execute(admin_url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        let statement = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
        statement.execute(&mut conn).await?;
        conn.close().await
    })
}

/// Runs `sql` on the database at `url` (SQLite or PostgreSQL) over a connection of its own.
pub fn execute_on(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await
    })
}

/// `postgres://user@host:port/db?opts` with the database part replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

impl PgDatabase {
    /// Ends every session holding an advisory lock in this database (a store lock, as a
    /// network fault or an administrator would), without touching the servers' processes.
    pub fn terminate_lock_sessions(&self) {
        execute(
            &self.admin_url,
            &format!(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{}'",
                self.name
            ),
        )
        .expect("terminate the lock sessions");
    }

    /// Ends every session of this database except those holding an advisory lock (the
    /// servers' store locks), as a network fault or a database failover would: the servers'
    /// other connections drop under them.
    pub fn terminate_other_sessions(&self) {
        execute(
            &self.admin_url,
            &format!(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a \
                 WHERE a.datname = '{}' AND a.pid <> pg_backend_pid() AND a.pid NOT IN \
                 (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted)",
                self.name
            ),
        )
        .expect("terminate the sessions");
    }

    /// Lets new connections to this database in, or (false) refuses every new one, even a
    /// superuser's: the database is unreachable for a server whose connections dropped.
    pub fn allow_connections(&self, allow: bool) {
        execute(
            &self.admin_url,
            &format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
                self.name
            ),
        )
        .expect("change ALLOW_CONNECTIONS");
    }

    /// Creates `openline_t_<random>` on the server named by `admin_url`.
    pub fn create(admin_url: &str) -> Self {
        let name = format!("openline_t_{}", crate::server::unique_suffix());
        execute(admin_url, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = execute(&self.admin_url, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_part_of_the_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
