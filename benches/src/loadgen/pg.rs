//! A fresh PostgreSQL database per run (`CREATE DATABASE`), dropped afterwards.

use sqlx::Connection;

/// A database created for this run.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

async fn execute(admin_url: &str, sql: String) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// `admin_url` (`postgres://user@host:port/db`) with the database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let authority = base.find("://").map_or(0, |i| i + 3);
    match base[authority..].find('/') {
        Some(slash) => format!("{}/{name}", &base[..authority + slash]),
        None => format!("{base}/{name}"),
    }
}

impl PgDatabase {
    /// Creates `openline_loadgen_<pid>_<label>` on the server `admin_url` points at.
    pub async fn create(admin_url: &str, label: &str) -> anyhow::Result<Self> {
        let name = format!("openline_loadgen_{}_{label}", std::process::id());
        execute(admin_url, format!("DROP DATABASE IF EXISTS {name}")).await?;
        execute(admin_url, format!("CREATE DATABASE {name}")).await?;
        Ok(Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// Drops the database (after its users disconnected).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        execute(
            &self.admin_url,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await?;
        Ok(())
    }
}
