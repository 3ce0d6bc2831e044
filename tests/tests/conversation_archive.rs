//! SPEC R21b (closed conversations leave memory but stay readable until
//! `retention.closed_conversations`), R20 (the list's refusals), API.md "Conversations
//! (added)": `GET /v1/conversations/{id}` and `GET /v1/conversations` read memory and the
//! archive alike; pages are stable; the archive survives restarts; retention deletes.
//!
//! Every server here keeps closed conversations in memory for one minute and readable for one
//! hour; the manual clock moves them (no sleeping).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use openline_tests::*;

const RETENTION: &str = "[retention]\nclosed_in_memory = \"1m\"\nclosed_conversations = \"1h\"\n";

/// Past `closed_in_memory`: what closed before is read from the archive.
const PAST_MEMORY: i64 = 61;

fn server(backend: &Backend) -> Server {
    Server::builder().backend(backend).extra(RETENTION).start()
}

/// Alice (working) alone in the queue of `web`, bob in `mail`'s, nobody in `chat`'s.
fn team(backend: &Backend) -> Server {
    let s = server(backend);
    s.working(&["alice", "bob"]);
    s.put_channel("web", &["alice"], json!({}));
    s.put_channel("mail", &["bob"], json!({}));
    s.put_channel("chat", &[], json!({}));
    s
}

fn list(s: &Server, query: &str) -> Value {
    s.get(&format!("/v1/conversations{query}"))
}

fn list_ids(s: &Server, query: &str) -> Vec<String> {
    ids(&list(s, query)["conversations"])
}

/// Every page of `query` (which may be empty) with `limit`, following `next`; the ids.
fn all_pages(s: &Server, query: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = format!("?limit={limit}{query}");
        if let Some(cursor) = &after {
            q.push_str(&format!("&after={}", encode(cursor)));
        }
        let page = list(s, &q);
        let got = ids(&page["conversations"]);
        assert!(got.len() <= limit, "{page}");
        seen.extend(got);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => {
                assert!(page["next"].is_null(), "{page}");
                return seen;
            }
        }
    }
}

/// Percent-encodes `text` for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Newest first: `queued_at` descending, then the id descending byte by byte.
fn newest_first(conversations: &[Value]) -> Vec<String> {
    let mut keyed: Vec<(DateTime<Utc>, String)> = conversations
        .iter()
        .map(|c| {
            (
                parse_ts(c["queued_at"].as_str().unwrap()),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    keyed.sort();
    keyed.reverse();
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn archived_conversations_stay_readable(backend: &Backend) {
    let mut s = team(backend);
    s.serve("web", "c1", "alice");
    s.agent_says("c1", "alice");
    let closed = s.close("c1");
    assert_eq!(closed["state"], "closed");
    let closed_at = parse_ts(closed["closed_at"].as_str().unwrap());
    s.new_conversation("web", "open-1");
    s.advance(PAST_MEMORY);

    // GET and the list show it as it was when it closed.
    assert_eq!(s.conversation("c1"), closed, "GET /v1/conversations/c1");
    let page = list(&s, "");
    assert_eq!(ids(&page["conversations"]), ["open-1", "c1"], "{page}");
    assert_eq!(page["conversations"][1], closed);
    assert!(page["next"].is_null(), "{page}");

    // Actions on it are refused as on a closed conversation in memory; nothing changes.
    let watch = Watch::conversations(&["c1", "open-1"]);
    for (action, body) in [
        ("close", ""),
        ("messages", r#"{"from": "customer"}"#),
        ("accept", r#"{"agent": "alice"}"#),
        ("decline", r#"{"agent": "alice"}"#),
        ("transfer", r#"{"to": null}"#),
    ] {
        let path = format!("/v1/conversations/c1/{action}");
        assert_refused(
            &mut s,
            watch,
            "POST",
            &path,
            body,
            (409, "conflict", &["c1", "closed"]),
        );
    }
    // Its id is not reused: the same open answers the existing conversation, another
    // customer or channel is a conflict.
    let again = json!({"id": "c1", "customer": "customer-c1", "text": "Hello again"});
    let r = s.call("POST", "/v1/channels/web/conversations", Some(&again));
    assert_eq!(
        (r.status, r.json()),
        (200, closed.clone()),
        "idempotent retry"
    );
    let other = r#"{"id": "c1", "customer": "someone else"}"#;
    assert_refused(
        &mut s,
        watch,
        "POST",
        "/v1/channels/web/conversations",
        other,
        (409, "conflict", &["c1"]),
    );
    let elsewhere = r#"{"id": "c1", "customer": "customer-c1"}"#;
    assert_refused(
        &mut s,
        watch,
        "POST",
        "/v1/channels/mail/conversations",
        elsewhere,
        (409, "conflict", &["c1"]),
    );
    assert_eq!(list_ids(&s, ""), ["open-1", "c1"], "nothing duplicated");

    // A restart keeps it.
    s.crash_and_restart();
    assert_eq!(s.conversation("c1"), closed, "after a restart");
    assert_eq!(list_ids(&s, "?state=closed"), ["c1"]);

    // Past `closed_conversations` it is gone everywhere.
    let now = s.now();
    let gone_after = (closed_at + chrono::Duration::hours(1) - now).num_seconds() + 1;
    s.advance(gone_after);
    assert_error(
        &s.call("GET", "/v1/conversations/c1", None),
        404,
        "not_found",
        &["c1"],
    );
    assert_eq!(list_ids(&s, ""), ["open-1"]);
    assert_error(
        &s.call("POST", "/v1/conversations/c1/close", None),
        404,
        "not_found",
        &["c1"],
    );
    s.crash_and_restart();
    assert_error(
        &s.call("GET", "/v1/conversations/c1", None),
        404,
        "not_found",
        &["c1"],
    );
    // Its id is free again.
    s.new_conversation("mail", "c1");
    assert_eq!(s.conversation("c1")["channel"], "mail");
}

backend_tests!(
    archived_conversations_stay_readable: r21b_closed_conversations_stay_readable_from_the_archive_until_retention_sqlite,
    r21b_closed_conversations_stay_readable_from_the_archive_until_retention_postgres
);

fn pages_are_stable(backend: &Backend) {
    let s = server(backend);
    s.put_channel("web", &[], json!({}));
    // Groups opened at the same instant: most positions are decided by the ids, compared
    // byte by byte ("B" before "a").
    let groups: [&[&str]; 3] = [
        &["a", "B", "b", "A", "é", "Z", "10", "9"],
        &["c", "C", "ü", "z1", "Z1", "x"],
        &["m", "M", "n", "N", "o", "O", "p"],
    ];
    let mut opened = Vec::new();
    for group in groups {
        for id in group {
            opened.push(s.new_conversation("web", id));
        }
        s.advance(1);
    }
    let expected = newest_first(&opened);
    assert_eq!(all_pages(&s, "", 1000), expected, "one page");

    // Some close and move to the archive before the walk starts.
    for id in ["a", "B", "c", "M", "o"] {
        s.close(&encode(id));
    }
    s.advance(PAST_MEMORY);
    assert_eq!(all_pages(&s, "", 4), expected, "memory and archive merged");

    // Others close and move while a client walks the pages: never a repeat nor a gap.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut closing = ["b", "A", "é", "Z", "10", "ü", "p", "N", "x"].into_iter();
    loop {
        let mut q = "?limit=3".to_owned();
        if let Some(cursor) = &after {
            q.push_str(&format!("&after={}", encode(cursor)));
        }
        let page = list(&s, &q);
        seen.extend(ids(&page["conversations"]));
        for id in closing.by_ref().take(2) {
            s.close(&encode(id));
        }
        s.advance(PAST_MEMORY);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected, "pages while conversations move");
    let closed = list(&s, "?state=closed&limit=1000");
    assert_eq!(
        ids(&closed["conversations"]).len(),
        14,
        "{closed}: 5 + 9 closed"
    );
}

backend_tests!(
    pages_are_stable: r21b_pages_neither_repeat_nor_skip_while_conversations_move_to_the_archive_sqlite,
    r21b_pages_neither_repeat_nor_skip_while_conversations_move_to_the_archive_postgres
);

fn filters_select_in_memory_and_archive(backend: &Backend) {
    let s = team(backend);
    // bob holds m1 and m2 on mail, both closed and archived.
    s.serve("mail", "m1", "bob");
    s.advance(10);
    let m1_closed = parse_ts(s.close("m1")["closed_at"].as_str().unwrap());
    s.serve("mail", "m2", "bob");
    s.advance(10);
    let m2_closed = parse_ts(s.close("m2")["closed_at"].as_str().unwrap());
    s.advance(PAST_MEMORY);
    // alice holds w1, is offered w2; w3 closed while offered (nobody held it), in memory;
    // w4 waits on `chat`.
    s.serve("web", "w1", "alice");
    s.advance(1);
    assert_offered(&s.new_conversation("web", "w2"), &["alice"]);
    s.advance(1);
    s.new_conversation("web", "w3");
    let w3_closed = parse_ts(s.close("w3")["closed_at"].as_str().unwrap());
    s.advance(1);
    assert_waiting(&s.new_conversation("chat", "w4"));

    let cases: [(&str, &[&str]); 15] = [
        ("", &["w4", "w3", "w2", "w1", "m2", "m1"]),
        ("?channel=web", &["w3", "w2", "w1"]),
        ("?channel=chat", &["w4"]),
        ("?channel=mail", &["m2", "m1"]),
        ("?agent=alice", &["w2", "w1"]),
        ("?agent=bob", &["m2", "m1"]),
        ("?agent=bob&channel=web", &[]),
        ("?state=queued", &["w4"]),
        ("?state=offered", &["w2"]),
        ("?state=accepted", &["w1"]),
        ("?state=closed", &["w3", "m2", "m1"]),
        ("?state=closed&channel=mail&agent=bob", &["m2", "m1"]),
        ("?channel=nowhere", &[]),
        ("?state=queued&closed_after=2000-01-01T00:00:00Z", &[]),
        ("?limit=2&channel=&agent=", &["w4", "w3"]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            list_ids(&s, query),
            expected,
            "GET /v1/conversations{query}"
        );
    }
    // closed_after is inclusive, closed_before exclusive: [after, before).
    let window = |after: DateTime<Utc>, before: DateTime<Utc>| {
        format!(
            "?closed_after={}&closed_before={}",
            encode(&ts(after)),
            encode(&ts(before))
        )
    };
    assert_eq!(list_ids(&s, &window(m1_closed, m2_closed)), ["m1"]);
    assert_eq!(
        list_ids(&s, &window(m2_closed, plus(w3_closed, 1))),
        ["w3", "m2"]
    );
    let since = format!("?closed_after={}", encode(&ts(m2_closed)));
    assert_eq!(list_ids(&s, &since), ["w3", "m2"]);
    let before = format!("?closed_before={}", encode(&ts(m2_closed)));
    assert_eq!(list_ids(&s, &before), ["m1"]);
    // Each conversation is shown as GET shows it.
    for c in list(&s, "")["conversations"].as_array().unwrap() {
        assert_eq!(*c, s.conversation(c["id"].as_str().unwrap()));
    }
}

backend_tests!(
    filters_select_in_memory_and_archive: r21b_list_filters_select_in_memory_and_in_the_archive_sqlite,
    r21b_list_filters_select_in_memory_and_in_the_archive_postgres
);

#[test]
fn r20_the_list_refuses_bad_parameters_naming_them() {
    let mut s = team(&Backend::sqlite());
    s.serve("web", "c1", "alice");
    s.close("c1");
    s.new_conversation("web", "c2");
    s.advance(PAST_MEMORY);
    let watch = Watch::conversations(&["c1", "c2"]);
    let limit = ["limit", "1000"];
    let cases: [(&str, &[&str]); 17] = [
        ("limit=0", &limit),
        ("limit=1001", &limit),
        ("limit=abc", &limit),
        ("limit=-1", &limit),
        ("limit=2.5", &limit),
        (
            "state=open",
            &["state", "queued", "offered", "accepted", "closed"],
        ),
        ("state=CLOSED", &["state"]),
        ("after=garbage", &["after"]),
        ("after=1767225600000000.zz", &["after"]),
        ("after=1767225600000000", &["after"]),
        ("closed_after=yesterday", &["closed_after"]),
        ("closed_after=2026-13-01T00:00:00Z", &["closed_after"]),
        ("closed_before=2026-01-01", &["closed_before"]),
        ("closed_before=1969-12-31T23:59:59Z", &["closed_before"]),
        ("colour=red", &["colour"]),
        ("limit=5&offset=10", &["offset"]),
        ("limit=5&limit=6", &["limit"]),
    ];
    for (query, needles) in cases {
        let path = format!("/v1/conversations?{query}");
        assert_invalid(&mut s, watch, "GET", &path, "", needles);
    }
    // A cursor from another listing is still a position: it is accepted.
    let next = list(&s, "?limit=1")["next"].as_str().unwrap().to_owned();
    assert_eq!(
        list_ids(&s, &format!("?state=closed&after={}", encode(&next))),
        ["c1"]
    );
}
