//! On SQLite always; on PostgreSQL too when `OPENLINE_TEST_DATABASE_URL` is set (each test
//! in a fresh database, the paging test in one with an ICU `en-US` collation, where text
//! order is not byte order).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// An instant `seconds` after 2026-01-01, with microseconds (what the archive keeps).
fn at(seconds: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 123_456_000).unwrap()
}

fn entry(
    at: Timestamp,
    event: HistoryEvent,
    agent: Option<&str>,
    reason: Option<&str>,
) -> HistoryEntry {
    HistoryEntry {
        at,
        event,
        agent: agent.map(|a| AgentId::new(a).unwrap()),
        reason: reason.map(ReasonCode::new),
        by: None,
    }
}

/// A conversation of `channel` queued at `at(queued)`, held by `agent`, closed at
/// `at(closed)`, with a short history.
fn closed(id: &str, channel: &str, queued: i64, closed: i64, agent: Option<&str>) -> Conversation {
    let mut history = VecDeque::new();
    // Opened by a request of the `widget` token (SPEC R28): its `by` is archived too.
    let mut opened = entry(at(queued), HistoryEvent::Queued, None, None);
    opened.by = Some("widget".into());
    history.push_back(opened);
    if let Some(agent) = agent {
        history.push_back(entry(at(queued), HistoryEvent::Offered, Some(agent), None));
        history.push_back(entry(at(queued), HistoryEvent::Accepted, Some(agent), None));
    }
    history.push_back(entry(at(closed), HistoryEvent::Closed, agent, None));
    Conversation {
        id: ConversationId::new(id).unwrap(),
        channel: ChannelId::new(channel).unwrap(),
        customer: format!("customer of {id}"),
        state: ConversationState::Closed,
        agent: agent.map(|a| AgentId::new(a).unwrap()),
        offered_to: Vec::new(),
        last_message_from: agent.map(|_| Author::Agent),
        queued_at: at(queued),
        history,
        history_omitted: 0,
        closed_at: Some(at(closed)),
    }
}

/// A conversation whose history is full (every event, reasons, a source's own code) and
/// whose older entries were dropped.
fn long_lived(id: &str) -> Conversation {
    let mut c = closed(id, "web", 0, 500, Some("alice"));
    let events = [
        (HistoryEvent::Offered, Some("bob"), None),
        (
            HistoryEvent::OfferExpired,
            Some("bob"),
            Some("offer_expired"),
        ),
        (HistoryEvent::Offered, Some("alice"), None),
        (HistoryEvent::Declined, Some("alice"), Some("declined")),
        (
            HistoryEvent::OfferWithdrawn,
            Some("carol"),
            Some("in_meeting"),
        ),
        (HistoryEvent::Accepted, Some("alice"), None),
        (HistoryEvent::Requeued, Some("alice"), Some("offline")),
        (
            HistoryEvent::Transferred,
            Some("alice"),
            Some("transferred"),
        ),
        (HistoryEvent::Queued, None, None),
    ];
    c.history.clear();
    for i in 0..Conversation::MAX_HISTORY {
        let (event, agent, reason) = events[i % events.len()];
        c.history
            .push_back(entry(at(i as i64), event, agent, reason));
    }
    c.history_omitted = 1234;
    c.last_message_from = Some(Author::Customer);
    c
}

/// A store on a fresh database, removed by [`TestDb::finish`].
enum TestDb {
    Sqlite(std::path::PathBuf),
    Postgres { admin: String, name: String },
}

impl TestDb {
    fn sqlite() -> Self {
        Self::Sqlite(
            std::env::temp_dir().join(format!("openline-archive-{}.db", uuid::Uuid::now_v7())),
        )
    }

    /// A fresh PostgreSQL database (`create` = options after `CREATE DATABASE name`), or
    /// `None` after saying on the real stderr that `test` is skipped: never a silent pass.
    async fn postgres(test: &str, create: &str) -> Option<Self> {
        let admin = crate::store::tests::postgres_admin_url(test)?;
        let name = format!("openline_a_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} {create}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        Some(Self::Postgres { admin, name })
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres { admin, name } => {
                let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
                format!("{base}/{name}")
            }
        }
    }

    async fn store(&self) -> Store {
        Store::connect(&self.url()).await.unwrap()
    }

    async fn finish(self, store: Store) {
        store.close().await;
        match self {
            Self::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Self::Postgres { admin, name } => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap();
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs `scenario` on SQLite, then on PostgreSQL when configured (`create`: see
/// [`TestDb::postgres`]).
async fn on_both<F, Fut>(test: &str, create: &str, scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let db = TestDb::sqlite();
    let store = scenario(db.store().await).await;
    db.finish(store).await;
    if let Some(db) = TestDb::postgres(test, create).await {
        assert_eq!(db.store().await.kind(), StoreKind::Postgres);
        let store = scenario(db.store().await).await;
        db.finish(store).await;
    }
}

async fn archive(store: &Store, conversations: &[Conversation]) {
    let mut tx = store.pool.begin().await.unwrap();
    insert(&mut tx, conversations).await.unwrap();
    tx.commit().await.unwrap();
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

async fn rows(store: &Store) -> (i64, i64) {
    (
        count(store, "SELECT COUNT(*) FROM openline_conversation").await,
        count(store, "SELECT COUNT(*) FROM openline_conversation_history").await,
    )
}

fn ids(list: &[Conversation]) -> Vec<&str> {
    list.iter().map(|c| c.id.as_str()).collect()
}

fn query(limit: i64) -> ArchiveQuery {
    ArchiveQuery {
        limit,
        ..ArchiveQuery::default()
    }
}

const FOREVER: Timestamp = chrono::DateTime::<chrono::Utc>::MIN_UTC;

#[test]
fn r21b_event_and_author_names_are_the_apis() {
    use HistoryEvent::*;
    for event in [
        Queued,
        Offered,
        OfferWithdrawn,
        OfferExpired,
        Declined,
        Accepted,
        Requeued,
        Transferred,
        Closed,
    ] {
        assert_eq!(
            serde_json::to_value(event).unwrap(),
            serde_json::json!(event_name(event))
        );
    }
    for author in [Author::Customer, Author::Agent] {
        assert_eq!(
            serde_json::to_value(author).unwrap(),
            serde_json::json!(author_name(author))
        );
    }
    assert_eq!(instant_text(at(0)), "2026-01-01T00:00:00.123456Z");
    let nanos = chrono::DateTime::from_timestamp(1_767_225_600, 999_999_999).unwrap();
    assert_eq!(instant_text(nanos), "2026-01-01T00:00:00.999999Z");
    assert_eq!(instant_text(to_micros(nanos)), instant_text(nanos));
}

#[tokio::test]
async fn r21b_archived_conversations_read_back_whole() {
    on_both(
        "r21b_archived_conversations_read_back_whole",
        "",
        |store| async move {
            let full = long_lived("ünïcødé 💬 «id»");
            let bare = closed("b", "mail", 3, 4, None);
            archive(&store, &[full.clone(), bare.clone()]).await;
            assert_eq!(
                store.archived(full.id.as_str(), FOREVER).await.unwrap(),
                Some(full.clone())
            );
            assert_eq!(
                store.archived("b", FOREVER).await.unwrap(),
                Some(bare.clone())
            );
            assert_eq!(store.archived("nope", FOREVER).await.unwrap(), None);
            let listed = store.list_archived(&query(10), FOREVER).await.unwrap();
            assert_eq!(listed, [bare, full], "newest first, histories included");
            assert_eq!(rows(&store).await, (2, 200 + 2));
            store
        },
    )
    .await;
}

#[tokio::test]
async fn r21b_archiving_again_replaces_the_conversation_and_its_history() {
    on_both("r21b_archiving_again_replaces", "", |store| async move {
        let first = long_lived("c1");
        archive(&store, &[first.clone(), closed("c2", "web", 1, 2, None)]).await;
        // A restart archives the same conversations again: one copy of each.
        archive(&store, std::slice::from_ref(&first)).await;
        assert_eq!(rows(&store).await, (2, 200 + 2));
        assert_eq!(store.archived("c1", FOREVER).await.unwrap(), Some(first));
        // Another version of it (e.g. re-archived after a history change) replaces it,
        // and an id twice in one call keeps the last.
        let shorter = closed("c1", "web", 0, 9, Some("bob"));
        let longer = closed("c1", "web", 0, 8, Some("carol"));
        archive(&store, &[longer, shorter.clone()]).await;
        assert_eq!(store.archived("c1", FOREVER).await.unwrap(), Some(shorter));
        assert_eq!(rows(&store).await, (2, 4 + 2));
        store
    })
    .await;
}

#[tokio::test]
async fn r21b_only_closed_conversations_are_archived() {
    on_both(
        "r21b_only_closed_conversations_are_archived",
        "",
        |store| async move {
            let mut open = closed("open", "web", 1, 2, Some("alice"));
            open.state = ConversationState::Accepted;
            open.closed_at = None;
            let mut no_instant = closed("no-instant", "web", 1, 2, None);
            no_instant.closed_at = None;
            for bad in [open, no_instant] {
                let id = bad.id.to_string();
                let mut tx = store.pool.begin().await.unwrap();
                let error = insert(&mut tx, &[closed("fine", "web", 1, 2, None), bad])
                    .await
                    .unwrap_err();
                assert!(error.to_string().contains(&format!("`{id}`")), "{error}");
                tx.commit().await.unwrap();
                assert_eq!(rows(&store).await, (0, 0), "nothing written: {error}");
            }
            store
        },
    )
    .await;
}

#[tokio::test]
async fn r21b_filters_select_channel_holder_and_closing_instants() {
    on_both("r21b_filters", "", |store| async move {
        archive(
            &store,
            &[
                closed("w1", "web", 1, 10, Some("alice")),
                closed("w2", "web", 2, 20, Some("bob")),
                closed("w3", "web", 3, 30, None),
                closed("m1", "mail", 4, 40, Some("alice")),
                closed("m2", "mail", 5, 50, Some("bob")),
            ],
        )
        .await;
        let list = |q: ArchiveQuery| {
            let store = store.clone();
            async move {
                let got = store.list_archived(&q, FOREVER).await.unwrap();
                ids(&got).into_iter().map(str::to_owned).collect::<Vec<_>>()
            }
        };
        let all = query(100);
        assert_eq!(list(all.clone()).await, ["m2", "m1", "w3", "w2", "w1"]);
        let web = ArchiveQuery {
            channel: Some("web".into()),
            ..all.clone()
        };
        assert_eq!(list(web.clone()).await, ["w3", "w2", "w1"]);
        let alice = ArchiveQuery {
            agent: Some("alice".into()),
            ..all.clone()
        };
        assert_eq!(list(alice.clone()).await, ["m1", "w1"]);
        let alice_web = ArchiveQuery {
            channel: Some("web".into()),
            ..alice.clone()
        };
        assert_eq!(list(alice_web).await, ["w1"]);
        // closed_after is inclusive, closed_before exclusive: [after, before).
        let window = ArchiveQuery {
            closed_after: Some(at(20)),
            closed_before: Some(at(40)),
            ..all.clone()
        };
        assert_eq!(list(window).await, ["w3", "w2"]);
        let since = ArchiveQuery {
            closed_after: Some(at(40)),
            ..all.clone()
        };
        assert_eq!(list(since).await, ["m2", "m1"]);
        let until = ArchiveQuery {
            closed_before: Some(at(10)),
            ..all.clone()
        };
        assert!(list(until).await.is_empty());
        let nobody = ArchiveQuery {
            agent: Some("zoe".into()),
            ..all.clone()
        };
        assert!(list(nobody).await.is_empty());
        assert!(list(query(0)).await.is_empty());
        assert_eq!(list(query(2)).await, ["m2", "m1"]);
        // Pages of one through a window, and through a channel.
        for (filter, expected) in [
            (
                ArchiveQuery {
                    closed_after: Some(at(20)),
                    ..query(1)
                },
                vec!["m2", "m1", "w3", "w2"],
            ),
            (
                ArchiveQuery {
                    closed_before: Some(at(50)),
                    ..query(1)
                },
                vec!["m1", "w3", "w2", "w1"],
            ),
            (
                ArchiveQuery {
                    channel: Some("mail".into()),
                    ..query(1)
                },
                vec!["m2", "m1"],
            ),
        ] {
            let mut q = filter;
            let mut seen = Vec::new();
            while let [last] = &store.list_archived(&q, FOREVER).await.unwrap()[..] {
                seen.push(last.id.to_string());
                q.after = Some(Position::of(last));
            }
            assert_eq!(seen, expected, "{q:?}");
        }
        store
    })
    .await;
}

#[tokio::test]
async fn r21b_pages_follow_the_byte_order_of_ids_without_gaps_or_duplicates() {
    // On PostgreSQL in a database whose collation sorts `a` before `B` (byte order: `B`
    // first): the archive must still page in the order the server uses in memory.
    let create = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'";
    on_both(
        "r21b_pages_follow_the_byte_order",
        create,
        |store| async move {
            let names = [
                "a", "B", "b", "A", "é", "e", "Z", "z", "10", "9", "a-b", "a_b", "ab", "über",
                "💬", "Ω", "c c", "c", "C",
            ];
            let mut all = Vec::new();
            for (i, name) in names.iter().enumerate() {
                // Three instants only: most positions are decided by the id.
                all.push(closed(name, "web", (i % 3) as i64, 100 + i as i64, None));
            }
            archive(&store, &all).await;
            let mut expected: Vec<Position> = all.iter().map(Position::of).collect();
            expected.sort();
            expected.reverse();
            let whole = store.list_archived(&query(100), FOREVER).await.unwrap();
            assert_eq!(
                whole.iter().map(Position::of).collect::<Vec<_>>(),
                expected,
                "one page: newest first, ids byte by byte"
            );
            for limit in [1, 2, 5, 7] {
                let mut seen = Vec::new();
                let mut q = query(limit);
                loop {
                    let page = store.list_archived(&q, FOREVER).await.unwrap();
                    assert!(page.len() as i64 <= limit);
                    seen.extend(page.iter().map(Position::of));
                    match page.last() {
                        Some(last) if page.len() as i64 == limit => {
                            q.after = Some(Position::of(last));
                        }
                        _ => break,
                    }
                }
                assert_eq!(seen, expected, "pages of {limit}");
            }
            store
        },
    )
    .await;
}

#[tokio::test]
async fn r21b_conversations_closed_before_the_horizon_are_gone() {
    on_both("r21b_horizon", "", |store| async move {
        archive(
            &store,
            &[
                closed("old", "web", 1, 10, None),
                closed("new", "web", 2, 20, None),
            ],
        )
        .await;
        assert!(
            store.archived("old", at(10)).await.unwrap().is_some(),
            "closed at the horizon"
        );
        assert_eq!(store.archived("old", at(11)).await.unwrap(), None);
        assert!(store.archived("new", at(11)).await.unwrap().is_some());
        let listed = store.list_archived(&query(10), at(11)).await.unwrap();
        assert_eq!(ids(&listed), ["new"]);
        let since = ArchiveQuery {
            closed_after: Some(at(0)),
            ..query(10)
        };
        let listed = store.list_archived(&since, at(11)).await.unwrap();
        assert_eq!(
            ids(&listed),
            ["new"],
            "closed_after does not reach past the horizon"
        );
        assert_eq!(
            rows(&store).await.0,
            2,
            "hidden, not deleted: that is the purge's job"
        );
        store
    })
    .await;
}

#[tokio::test]
async fn r21b_the_purge_deletes_in_batches_oldest_first() {
    on_both("r21b_purge", "", |store| async move {
        let all: Vec<Conversation> = (0..25)
            .map(|i| closed(&format!("c{i:02}"), "web", i, 100 + i, Some("alice")))
            .collect();
        archive(&store, &all).await;
        assert_eq!(rows(&store).await, (25, 25 * 4));
        let mut batches = Vec::new();
        loop {
            let deleted = store.purge_archive(at(120), 8).await.unwrap();
            batches.push(deleted);
            if deleted < 8 {
                break;
            }
        }
        assert_eq!(batches, [8, 8, 4]);
        assert_eq!(
            rows(&store).await,
            (5, 5 * 4),
            "histories deleted with them"
        );
        let left = store.list_archived(&query(100), FOREVER).await.unwrap();
        assert_eq!(ids(&left), ["c24", "c23", "c22", "c21", "c20"]);
        assert_eq!(store.purge_archive(at(1000), 0).await.unwrap(), 0);
        assert_eq!(store.purge_archive(at(1000), 100).await.unwrap(), 5);
        assert_eq!(rows(&store).await, (0, 0));
        store
    })
    .await;
}

/// `result` is a [`StoreError::Corrupt`] naming `id` and `what`.
fn assert_corrupt(result: Result<(), StoreError>, id: &str, what: &str) {
    match result {
        Err(StoreError::Corrupt { seq: 0, message }) => {
            assert!(message.contains(&format!("`{id}`")), "{message}");
            assert!(message.contains(what), "{message}");
        }
        other => panic!("{id}: not corrupt: {other:?}"),
    }
}

async fn unreadable_rows(store: Store) -> Store {
    let rows = [
        closed("bad-instant", "web", 1, 2, None),
        closed("bad-event", "web", 1, 2, None),
    ];
    archive(&store, &rows).await;
    for damage in [
        "UPDATE openline_conversation SET closed_at = 'yesterday' WHERE id = 'bad-instant'",
        "UPDATE openline_conversation_history SET event = 'teleported' \
         WHERE conversation = 'bad-event'",
    ] {
        sqlx::query(damage).execute(&store.pool).await.unwrap();
    }
    // `yesterday` sorts after every instant, so the horizon does not hide it.
    let read = store.archived("bad-instant", FOREVER).await;
    assert_corrupt(read.map(drop), "bad-instant", "yesterday");
    let read = store.archived("bad-event", FOREVER).await;
    assert_corrupt(read.map(drop), "bad-event", "teleported");
    let listed = store.list_archived(&query(10), FOREVER).await;
    assert_corrupt(listed.map(drop), "bad-instant", "yesterday");
    store
}

#[tokio::test]
async fn r22_an_unreadable_archived_row_is_named_never_skipped() {
    on_both("r22_an_unreadable_archived_row", "", unreadable_rows).await;
}
