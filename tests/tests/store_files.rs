//! SPEC R35f: the files of a SQLite store are readable by their owner only, and a store file
//! deleted, moved or replaced under a running server is noticed before the next
//! acknowledgement — nothing more is acknowledged (four writes once were, then lost at the
//! restart) and the server exits non-zero naming the path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;

use openline_tests::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn r35f_store_files_are_created_for_their_owner_only() {
    let s = Server::start();
    s.put_agent("alice", &[]);
    s.create_token("ops", "admin", None);
    let db = s.dir().join("openline.db");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(s.dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("openline.db") {
            assert_eq!(mode(&path), 0o600, "{name} is readable by others");
            seen.push(name);
        }
    }
    seen.sort();
    assert!(seen.contains(&"openline.db".to_owned()), "{seen:?}");
    assert!(seen.contains(&"openline.db-wal".to_owned()), "{seen:?}");
    assert!(
        seen.len() >= 3,
        "the store, its WAL and its lock at least: {seen:?}"
    );
    assert_eq!(mode(&db), 0o600);
}

/// Does `damage` to the store file of a serving server, then checks the next write is refused,
/// and the server exits non-zero naming the file.
fn noticed_before_the_next_acknowledgement(damage: impl FnOnce(&std::path::Path)) {
    let mut s = Server::start();
    s.working(&["alice"]);
    s.put_channel("web", &["alice"], json!({}));
    s.new_conversation("web", "before");
    let db = s.dir().join("openline.db");
    damage(&db);
    let r = s.call(
        "POST",
        "/v1/channels/web/conversations",
        Some(&json!({"id": "after", "customer": "c"})),
    );
    assert!(
        !(200..300).contains(&r.status),
        "a write into a file no longer there was acknowledged: {} {}",
        r.status,
        r.text()
    );
    let status = s.wait_exit().expect("the server kept running");
    assert!(!status.success(), "{status}");
    let log = s.log_tail();
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert!(!log.contains("R35"), "{log}");
}

#[test]
fn r35f_a_deleted_store_file_stops_the_server_before_an_acknowledgement() {
    noticed_before_the_next_acknowledgement(|db| std::fs::remove_file(db).unwrap());
}

#[test]
fn r35f_a_moved_store_file_stops_the_server_before_an_acknowledgement() {
    noticed_before_the_next_acknowledgement(|db| {
        std::fs::rename(db, db.with_extension("moved")).unwrap();
    });
}

#[test]
fn r35f_a_replaced_store_file_stops_the_server_before_an_acknowledgement() {
    noticed_before_the_next_acknowledgement(|db| {
        let other = db.with_extension("other");
        std::fs::copy(db, &other).unwrap();
        std::fs::rename(&other, db).unwrap();
    });
}

#[test]
fn r35f_readiness_fails_once_the_store_file_is_gone() {
    let mut s = Server::start();
    s.put_agent("alice", &[]);
    std::fs::remove_file(s.dir().join("openline.db")).unwrap();
    let r = s.call("GET", "/readyz", None);
    // A public probe: it says not ready, without naming paths to whoever asks.
    assert_eq!(r.status, 503, "{}", r.text());
    s.kill();
}
