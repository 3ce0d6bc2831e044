//! Webhooks (SPEC R30), black-box, with a real receiver: every event delivered at least once,
//! in order, signed; failures retried with backoff; pending deliveries survive kill -9; a slow
//! receiver holds up neither routing nor other subscriptions; events older than
//! `webhooks.max_age` are given up and recorded; bad subscriptions are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hmac::{KeyInit, Mac};
use openline_tests::*;

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "whsec-0123456789abcdef";
const ALL: [&str; 7] = [
    "conversation.queued",
    "conversation.offered",
    "conversation.offer_withdrawn",
    "conversation.accepted",
    "conversation.requeued",
    "conversation.closed",
    "agent.availability_changed",
];

fn subscribe(s: &Server, url: &str, extra: Value) -> String {
    let mut body = json!({"url": url, "events": ALL, "secret": SECRET});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = s.expect("POST", "/v1/webhooks", Some(body), &[201]);
    assert!(
        created.get("secret").is_none(),
        "the secret is never shown: {created}"
    );
    created["id"].as_str().unwrap().to_owned()
}

/// The `Openline-Signature` of `r` checked with an HMAC-SHA256 of our own.
fn signed(r: &Received) -> bool {
    let Some(header) = r.header("openline-signature") else {
        return false;
    };
    let (Some(t), Some(v1)) = (
        header.split(',').find_map(|p| p.strip_prefix("t=")),
        header.split(',').find_map(|p| p.strip_prefix("v1=")),
    ) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

/// The event ids of the accepted (2xx) deliveries, in arrival order.
fn delivered_ids(got: &[Received]) -> Vec<u64> {
    got.iter()
        .filter(|r| r.status == 200)
        .map(|r| r.header("openline-event-id").unwrap().parse().unwrap())
        .collect()
}

/// The deliveries of webhook `id` once `done` holds for the list (or after [`WAIT`]): an
/// outcome is recorded just after the attempt that made it.
fn deliveries_until(s: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let deliveries = s.get(&format!("/v1/webhooks/{id}/deliveries"));
        if done(&deliveries["deliveries"]) || std::time::Instant::now() >= deadline {
            return deliveries;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn conversations(s: &Server, prefix: &str, n: usize) {
    for i in 0..n {
        s.new_conversation("web", &format!("{prefix}-{i}"));
    }
}

fn has_conversation(got: &[Received], id: &str) -> bool {
    got.iter()
        .any(|r| r.status == 200 && r.body.contains(&format!("\"conversation\":\"{id}\"")))
}

#[test]
fn r30_every_event_is_delivered_in_order_signed_once_it_is_committed() {
    let s = team_on_web(&["alice", "bob"], &[], json!({}));
    let receiver = Receiver::start();
    let mut stream = EventStream::open(s.port, "/v1/events").unwrap();
    subscribe(&s, &receiver.url("/hook"), json!({}));
    s.online("alice");
    conversations(&s, "c", 3);
    s.accept("c-0", "alice");
    s.close("c-0");
    s.new_conversation("web", "last");

    let event_id = |e: &SseEvent| -> u64 { e.id.as_deref().unwrap().parse().unwrap() };
    let mut sse = stream.read_until(WAIT, |e| {
        e.event == "conversation.queued" && mentions(&e.data, "last")
    });
    let got = receiver.wait_for(WAIT, |got| has_conversation(got, "last"));
    // The receiver may have been sent what followed `last`'s arrival (its offer) in the same
    // run: the stream is read up to the same event before the two are compared.
    let newest = delivered_ids(&got).last().copied().unwrap_or(0);
    if sse.last().map(event_id) < Some(newest) {
        sse.extend(stream.read_until(WAIT, |e| event_id(e) >= newest));
    }
    let expected: Vec<u64> = sse.iter().map(event_id).collect();
    assert_eq!(delivered_ids(&got), expected, "every event, in order, once");
    for (r, e) in got.iter().zip(&sse) {
        assert!(signed(r), "a valid signature: {:?}", r.headers);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body, e.data, "the body is the event as on the stream");
    }
}

#[test]
fn r30_filters_by_event_type_channel_and_agent() {
    let s = team_on_web(&["alice", "bob"], &[], json!({"check_availability": false}));
    s.put_channel("mail", &["alice"], json!({"check_availability": false}));
    let receiver = Receiver::start();
    subscribe(
        &s,
        &receiver.url("/alice-web-offers"),
        json!({"events": ["conversation.offered"], "channels": ["web"], "agents": ["alice"]}),
    );
    conversations(&s, "w", 4); // offered to alice and bob in turn (strict order: alice first)
    s.new_conversation("mail", "m-0");
    s.new_conversation("web", "last");
    let got = receiver.wait_for(WAIT, |got| has_conversation(got, "last"));
    for r in &got {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "conversation.offered", "{body}");
        assert_eq!(
            (body["channel"].as_str(), body["agent"].as_str()),
            (Some("web"), Some("alice"))
        );
    }
    assert!(!got.is_empty());
}

#[test]
fn r30_a_failing_receiver_gets_the_event_again_with_backoff_and_in_order() {
    let s = team_on_web(&["alice"], &[], json!({}));
    let receiver = Receiver::start();
    receiver.fail_next(3);
    let id = subscribe(
        &s,
        &receiver.url("/flaky"),
        json!({"events": ["conversation.queued"]}),
    );
    conversations(&s, "q", 2);
    let got = receiver.wait_for(WAIT, |got| has_conversation(got, "q-1"));
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 500, 200, 200],
        "q-0 three times, then in order"
    );
    assert!(got[..4].iter().all(|r| r.body.contains("\"q-0\"")));
    // Waits of about 1 s, 2 s, 4 s between the attempts (exponential backoff).
    let waits: Vec<Duration> = got[..4].windows(2).map(|w| w[1].at - w[0].at).collect();
    for (wait, at_least) in waits.iter().zip([1, 2, 4]) {
        assert!(
            *wait >= Duration::from_millis(at_least * 1000 - 50),
            "{waits:?}"
        );
    }
    let deliveries = deliveries_until(&s, &id, |d| d[1]["status"] == "delivered");
    let first = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["attempts"] == 4)
        .cloned()
        .unwrap_or_else(|| panic!("{deliveries}"));
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["last_status_code"], 200);
}

#[test]
fn r30_deliveries_pending_at_a_crash_are_made_after_the_restart() {
    let mut s = team_on_web(&["alice"], &[], json!({}));
    let receiver = Receiver::start();
    receiver.set_down(true);
    let id = subscribe(
        &s,
        &receiver.url("/down"),
        json!({"events": ["conversation.queued"]}),
    );
    conversations(&s, "k", 3);
    receiver.wait_for(WAIT, |got| !got.is_empty());
    let pending = deliveries_until(&s, &id, |d| d[0]["status"] == "pending");
    assert_eq!(pending["deliveries"][0]["status"], "pending", "{pending}");
    assert!(pending["deliveries"][0]["next_attempt_at"].is_string());

    s.kill();
    receiver.set_down(false);
    s.crash_and_restart();
    let got = receiver.wait_for(WAIT, |got| has_conversation(got, "k-2"));
    for id in ["k-0", "k-1", "k-2"] {
        assert!(
            has_conversation(&got, id),
            "{id} delivered after the restart"
        );
    }
}

#[test]
fn r30_a_slow_receiver_holds_up_neither_routing_nor_other_subscriptions() {
    let s = team_on_web(&["alice"], &[], json!({}));
    let slow = Receiver::start();
    slow.set_delay(Duration::from_secs(8)); // each delivery hangs 8 s
    let fast = Receiver::start();
    subscribe(
        &s,
        &slow.url("/slow"),
        json!({"events": ["conversation.queued"]}),
    );
    subscribe(
        &s,
        &fast.url("/fast"),
        json!({"events": ["conversation.queued"]}),
    );
    conversations(&s, "r", 30); // each answered 201 (durable) while the slow one hangs
    s.online("alice");
    assert_eq!(
        s.agent_conversations("alice").len(),
        30,
        "routing went on: every conversation offered to alice"
    );
    let got = fast.wait_for(WAIT, |got| has_conversation(got, "r-29"));
    assert_eq!(
        delivered_ids(&got).len(),
        30,
        "the fast receiver got everything"
    );
    assert!(
        slow.received().len() <= 1,
        "the slow one is still on its first event"
    );
    // The lag metric shows how far behind the slow one is (here by the manual clock: its
    // next event, once it gets to it, is a minute old).
    s.advance(60);
    let deadline = std::time::Instant::now() + WAIT;
    let lag = loop {
        let metrics = s.call("GET", "/metrics", None).text();
        let lag: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("openline_webhook_lag_seconds "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no lag metric in {metrics}"));
        if lag >= 60.0 || std::time::Instant::now() >= deadline {
            break lag;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(lag >= 60.0, "lag {lag}");
}

#[test]
fn r30_an_event_older_than_max_age_is_given_up_and_recorded() {
    let s = Server::builder()
        .extra("[webhooks]\nmax_age = \"1h\"\n")
        .start();
    s.team("web", &["alice"], &[], json!({}));
    let receiver = Receiver::start();
    receiver.set_down(true);
    let id = subscribe(
        &s,
        &receiver.url("/dead"),
        json!({"events": ["conversation.queued"]}),
    );
    conversations(&s, "g", 1);
    receiver.wait_for(WAIT, |got| !got.is_empty());
    // Exactly max_age old: still tried (attempts go on) ...
    s.advance(3600);
    let tried = receiver.received().len();
    receiver.wait_for(WAIT, |got| got.len() > tried);
    let still = deliveries_until(&s, &id, |d| d[0]["attempts"].as_i64() > Some(tried as i64));
    assert_eq!(still["deliveries"][0]["status"], "pending", "{still}");
    // ... one second older: given up at its next attempt.
    s.advance(1);
    let given_up = deliveries_until(&s, &id, |d| d[0]["status"] == "failed");
    assert_eq!(given_up["deliveries"][0]["status"], "failed", "{given_up}");
    assert_eq!(given_up["deliveries"][0]["last_status_code"], 500);
    // The next event is not held up behind it.
    receiver.set_down(false);
    s.new_conversation("web", "after");
    let got = receiver.wait_for(WAIT, |got| has_conversation(got, "after"));
    assert!(has_conversation(&got, "after"));
}

#[test]
fn r30_a_receiver_that_cannot_be_reached_is_given_up_with_the_reason() {
    let s = Server::builder()
        .extra("[webhooks]\nmax_age = \"1h\"\n")
        .start();
    s.team("web", &["alice"], &[], json!({}));
    // A port nobody listens on: every attempt fails to connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/gone", closed.local_addr().unwrap());
    drop(closed);
    let id = subscribe(&s, &url, json!({"events": ["conversation.queued"]}));
    conversations(&s, "u", 1);
    let pending = deliveries_until(&s, &id, |d| d[0]["status"] == "pending");
    assert_eq!(
        pending["deliveries"][0]["last_status_code"],
        Value::Null,
        "{pending}"
    );
    s.advance(3601);
    let given_up = deliveries_until(&s, &id, |d| d[0]["status"] == "failed");
    let error = given_up["deliveries"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("connect"),
        "the last failure's reason is kept: {given_up}"
    );
}

#[test]
fn r30_bad_subscriptions_are_refused_and_changes_are_audited() {
    let s = Server::builder()
        .extra("[webhooks]\nallowed_hosts = [\"127.0.0.1\"]\n")
        .start();
    let ok =
        json!({"url": "http://127.0.0.1:9/x", "events": ["conversation.queued"], "secret": SECRET});
    let with = |change: Value| {
        let mut body = ok.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        body
    };
    for (bad, needle) in [
        (
            with(json!({"url": "https://metadata.internal/x"})),
            "allowed_hosts",
        ),
        (with(json!({"url": "ftp://127.0.0.1/x"})), "http"),
        (with(json!({"url": "not a url"})), "url"),
        (with(json!({"events": []})), "events"),
        (
            with(json!({"events": ["conversation.exploded"]})),
            "conversation.exploded",
        ),
        (with(json!({"secret": "short"})), "secret"),
        (with(json!({"channels": ["a/../b\n"]})), "channels"),
        (with(json!({"channels": []})), "channels"),
        (
            with(json!({"agents": (0..1001).map(|n| format!("a{n}")).collect::<Vec<_>>()})),
            "agents",
        ),
        (with(json!({"extra": 1})), "extra"),
    ] {
        let r = s.call("POST", "/v1/webhooks", Some(&bad));
        assert_error(&r, 400, "invalid_request", &[needle]);
    }
    assert_eq!(
        s.get("/v1/webhooks")["webhooks"],
        json!([]),
        "nothing was created"
    );

    // A thousand agents is the most a filter lists.
    let most = with(json!({"agents": (0..1000).map(|n| format!("a{n}")).collect::<Vec<_>>()}));
    let big = s.expect("POST", "/v1/webhooks", Some(most), &[201]);
    s.expect(
        "DELETE",
        &format!("/v1/webhooks/{}", big["id"].as_str().unwrap()),
        None,
        &[204],
    );
    let id = s.expect("POST", "/v1/webhooks", Some(ok), &[201])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = s.get(&format!("/v1/webhooks/{id}"));
    assert_eq!(shown["url"], "http://127.0.0.1:9/x");
    assert!(!shown.to_string().contains(SECRET));
    s.expect("DELETE", &format!("/v1/webhooks/{id}"), None, &[204]);
    for path in [
        format!("/v1/webhooks/{id}"),
        format!("/v1/webhooks/{id}/deliveries"),
    ] {
        assert_error(&s.call("GET", &path, None), 404, "not_found", &[]);
    }
    let audit = s.get("/v1/audit");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.create",
            "webhook.delete",
            "webhook.create",
            "webhook.delete"
        ]
    );
    assert!(
        !audit.to_string().contains(SECRET),
        "no secret in the audit trail"
    );
}
