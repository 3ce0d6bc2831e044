//! Tokens on SQLite always, and on PostgreSQL when `OPENLINE_TEST_DATABASE_URL` is set (each
//! test in a fresh database, dropped afterwards).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::Row as _;

use super::super::tests::{PgDatabase, TempDb};
use super::*;

fn at(seconds: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 123_456_789).unwrap()
}

/// Every value of every row of the token table, as text.
async fn token_table(store: &Store) -> Vec<String> {
    sqlx::query(
        "SELECT name, role, COALESCE(agent, '') AS agent, hash, created_at FROM openline_token",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
    .iter()
    .flat_map(|row| {
        ["name", "role", "agent", "hash", "created_at"]
            .map(|c| row.try_get::<String, _>(c).unwrap())
    })
    .collect()
}

async fn create_list_look_up_and_revoke(url: &str) {
    let store = Store::connect(url).await.unwrap();
    assert!(!store.has_tokens().await.unwrap());
    assert!(!store.token_ever_created().await.unwrap());
    assert_eq!(store.list_tokens().await.unwrap(), []);

    let (admin, admin_secret) = store
        .create_token("ops", Role::Admin, None, at(0), "test")
        .await
        .unwrap();
    assert_eq!(
        admin,
        TokenInfo {
            name: "ops".into(),
            role: Role::Admin,
            agent: None,
            // Kept and shown in whole seconds, whatever the clock gave (#20 item 18).
            created_at: chrono::SubsecRound::trunc_subsecs(at(0), 0),
        }
    );
    let (alice, alice_secret) = store
        .create_token("alice-laptop", Role::Agent, Some("alice"), at(1), "test")
        .await
        .unwrap();
    assert_eq!(alice.agent.as_deref(), Some("alice"));
    assert!(store.has_tokens().await.unwrap());

    // Listed by name, as created, never with a secret; JSON with the documented fields.
    let listed = store.list_tokens().await.unwrap();
    assert_eq!(listed, [alice.clone(), admin.clone()]);
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(
        json[0],
        serde_json::json!({
            "name": "alice-laptop",
            "role": "agent",
            "agent": "alice",
            "created_at": "2026-01-01T00:00:01Z",
        })
    );
    assert!(!json.to_string().contains(&admin_secret[4..]));

    // The secret is not stored, in any form but its hash.
    for secret in [&admin_secret, &alice_secret] {
        let body = &secret[token::SECRET_PREFIX.len()..];
        let table = token_table(&store).await;
        assert!(table.iter().all(|value| !value.contains(body)), "{table:?}");
        assert!(table.contains(&token::hash_secret(secret)));
    }

    // Looked up by secret; a wrong one finds nothing.
    assert_eq!(
        store.token_for_secret(&admin_secret).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        store.token_for_secret(&alice_secret).await.unwrap(),
        Some(alice.clone())
    );
    let mut wrong = admin_secret.clone();
    wrong.pop();
    for wrong in [
        wrong.as_str(),
        "",
        "olt_",
        "ops",
        &token::hash_secret(&admin_secret),
    ] {
        assert_eq!(
            store.token_for_secret(wrong).await.unwrap(),
            None,
            "{wrong}"
        );
    }

    // Revoked: refused from then on; the name is free again, with a new secret.
    assert!(store.revoke_token("ops", at(3), "test").await.unwrap());
    assert!(!store.revoke_token("ops", at(3), "test").await.unwrap());
    assert!(!store.revoke_token("nobody", at(3), "test").await.unwrap());
    assert_eq!(store.token_for_secret(&admin_secret).await.unwrap(), None);
    assert_eq!(store.list_tokens().await.unwrap(), [alice]);
    let (again, again_secret) = store
        .create_token("ops", Role::Supervisor, None, at(2), "test")
        .await
        .unwrap();
    assert_ne!(again_secret, admin_secret);
    assert_eq!(store.token_for_secret(&admin_secret).await.unwrap(), None);
    assert_eq!(
        store.token_for_secret(&again_secret).await.unwrap(),
        Some(again)
    );
    assert!(store.revoke_token("ops", at(3), "test").await.unwrap());
    assert!(
        store
            .revoke_token("alice-laptop", at(3), "test")
            .await
            .unwrap()
    );
    assert!(!store.has_tokens().await.unwrap());
    // SPEC R35e: no live token, but one was created: local mode does not come back.
    assert!(store.token_ever_created().await.unwrap());
    store.close().await;
}

async fn bad_requests_change_nothing(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let (first, _) = store
        .create_token("ci", Role::Integration, None, at(0), "test")
        .await
        .unwrap();
    let refused = [
        ("ci", Role::Admin, None, TokenError::NameTaken("ci".into())),
        ("bob", Role::Agent, None, TokenError::AgentRequired),
        (
            "bob",
            Role::Supervisor,
            Some("bob"),
            TokenError::AgentNotAllowed(Role::Supervisor),
        ),
        (
            "a b",
            Role::Admin,
            None,
            TokenError::InvalidName("a b".into()),
        ),
        (
            "",
            Role::Admin,
            None,
            TokenError::InvalidName(String::new()),
        ),
    ];
    for (name, role, agent, expected) in refused {
        match store.create_token(name, role, agent, at(1), "test").await {
            Err(StoreError::Token(error)) => assert_eq!(error, expected, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        store
            .create_token("bob", Role::Agent, Some("\n"), at(1), "test")
            .await,
        Err(StoreError::Token(TokenError::InvalidAgent(_)))
    ));
    assert_eq!(store.list_tokens().await.unwrap(), [first]);
    store.close().await;
}

async fn a_corrupt_row_is_reported_not_skipped(url: &str) {
    let store = Store::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO openline_token (name, role, agent, hash, created_at) VALUES ('x', 'root', NULL, 'h', '2026-01-01T00:00:00Z')",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let error = store.list_tokens().await.unwrap_err();
    assert!(
        matches!(&error, StoreError::CorruptRow { key, .. } if key == "x"),
        "{error}"
    );
    assert!(error.to_string().contains("root"), "{error}");
    store.close().await;
}

#[tokio::test]
async fn sqlite_create_list_look_up_and_revoke() {
    create_list_look_up_and_revoke(&TempDb::new().url()).await;
}

#[tokio::test]
async fn sqlite_bad_requests_change_nothing() {
    bad_requests_change_nothing(&TempDb::new().url()).await;
}

#[tokio::test]
async fn sqlite_a_corrupt_row_is_reported_not_skipped() {
    a_corrupt_row_is_reported_not_skipped(&TempDb::new().url()).await;
}

/// Not in the table, and not anywhere in the database's files either (a deleted row's bytes
/// can linger in free pages: here there is no such row, the secret never reached SQLite).
#[tokio::test]
async fn sqlite_the_secret_is_in_no_file_of_the_store() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    let (_, secret) = store
        .create_token("ops", Role::Admin, None, at(0), "test")
        .await
        .unwrap();
    store.close().await;
    let body = &secret.as_bytes()[token::SECRET_PREFIX.len()..];
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.0.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        assert!(
            !bytes.windows(body.len()).any(|window| window == body),
            "the secret is in {path}"
        );
    }
}

#[tokio::test]
async fn postgres_create_list_look_up_and_revoke() {
    let Some(db) = PgDatabase::create("postgres_create_list_look_up_and_revoke").await else {
        return;
    };
    create_list_look_up_and_revoke(&db.url).await;
    db.drop_now().await;
}

#[tokio::test]
async fn postgres_bad_requests_change_nothing() {
    let Some(db) = PgDatabase::create("postgres_bad_requests_change_nothing").await else {
        return;
    };
    bad_requests_change_nothing(&db.url).await;
    db.drop_now().await;
}

#[tokio::test]
async fn postgres_a_corrupt_row_is_reported_not_skipped() {
    let Some(db) = PgDatabase::create("postgres_a_corrupt_row_is_reported_not_skipped").await
    else {
        return;
    };
    a_corrupt_row_is_reported_not_skipped(&db.url).await;
    db.drop_now().await;
}

/// SPEC R25 with the cache: a found token is answered from memory (here: even with its table
/// gone), and a token revoked or created through another connection to the store — another
/// process — counts at the next lookup (SQLite: the marker; PostgreSQL: the notification,
/// waited for up to 2 s).
async fn cached_tokens_follow_changes_made_elsewhere(url: &str, wait_for_notification: bool) {
    let server = Store::connect(url).await.unwrap();
    let cli = Store::connect(url).await.unwrap();
    let (_, ops) = cli
        .create_token("ops", Role::Admin, None, at(0), "test")
        .await
        .unwrap();
    let (_, bot) = cli
        .create_token("bot", Role::Integration, None, at(0), "test")
        .await
        .unwrap();
    // Lookups until the cache holds both (PostgreSQL: once its listener is connected).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let lookup = |secret: String| {
        let server = server.clone();
        async move { server.token_for_secret(&secret).await.unwrap() }
    };
    while !server.tokens.is_live() {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never went live"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(lookup(ops.clone()).await.is_some());
    assert!(lookup(bot.clone()).await.is_some());
    // Served from memory now: the table renamed away does not matter ...
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    for (from, to) in [("openline_token", "hidden"), ("hidden", "openline_token")] {
        if from == "hidden" {
            assert!(
                lookup(ops.clone()).await.is_some(),
                "answered from the cache, every token"
            );
            assert!(
                lookup(bot.clone()).await.is_some(),
                "answered from the cache"
            );
        }
        sqlx::query(sqlx::AssertSqlSafe(rename(from, to)))
            .execute(&server.pool)
            .await
            .unwrap();
    }
    // Revoked elsewhere: refused from the next lookup on (after the notification arrives).
    assert!(cli.revoke_token("ops", at(1), "test").await.unwrap());
    loop {
        let seen = lookup(ops.clone()).await;
        if seen.is_none() {
            break;
        }
        assert!(
            wait_for_notification && std::time::Instant::now() < deadline,
            "a revoked token was still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        lookup(bot.clone()).await.unwrap().name,
        "bot",
        "the other one stays valid"
    );
    // Revoked through the server's own connection: refused at once, whatever the store.
    assert!(server.revoke_token("bot", at(2), "test").await.unwrap());
    assert!(lookup(bot.clone()).await.is_none());
    server.close().await;
    cli.close().await;
}

#[tokio::test]
async fn sqlite_cached_tokens_follow_changes_made_elsewhere() {
    cached_tokens_follow_changes_made_elsewhere(&TempDb::new().url(), false).await;
}

#[tokio::test]
async fn postgres_cached_tokens_follow_changes_made_elsewhere() {
    let Some(db) = PgDatabase::create("postgres_cached_tokens_follow_changes").await else {
        return;
    };
    cached_tokens_follow_changes_made_elsewhere(&db.url, true).await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_found_token_is_answered_from_memory_until_tokens_change() {
    let db = TempDb::new();
    let store = Store::connect(&db.url()).await.unwrap();
    let (_, secret) = store
        .create_token("ops", Role::Admin, None, at(0), "test")
        .await
        .unwrap();
    assert!(store.token_for_secret(&secret).await.unwrap().is_some());
    sqlx::query("ALTER TABLE openline_token RENAME TO gone")
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        store.token_for_secret(&secret).await.unwrap().unwrap().name,
        "ops",
        "no query: the table is gone"
    );
    assert!(
        store.token_for_secret("olt_unknown").await.is_err(),
        "an unknown secret always asks the store"
    );
    // A change signalled by another process empties the cache.
    std::fs::write(format!("{}.tokens", db.0.display()), "changed").unwrap();
    assert!(
        store.token_for_secret(&secret).await.is_err(),
        "asked the store again"
    );
    store.close().await;
}
