//! Settings changes on the event stream (API.md third wave "Events"; SPEC R32, R29, R30):
//! `channel.changed` and `agent.changed` carry the object after the change, as `GET` shows
//! it, whoever made the change (the API, another page, the config file at start). They are
//! numbered, retained, resumable, filtered and delivered to webhooks like every other event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use openline_tests::*;

const WAIT: Duration = Duration::from_secs(10);

fn open(s: &Server, path: &str) -> EventStream {
    EventStream::open(s.port, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Reads until a `kind` event about `id` arrives (`channel` or `agent` field); fails after
/// [`WAIT`]. Returns it, and every event read before it.
fn next_change(stream: &mut EventStream, kind: &str, id: &str) -> (SseEvent, Vec<SseEvent>) {
    let field = kind.split('.').next().unwrap();
    let mut seen = stream.read_until(WAIT, |e| {
        e.event == kind && e.data[field].as_str() == Some(id)
    });
    let last = seen.pop();
    match last {
        Some(e) if e.event == kind && e.data[field].as_str() == Some(id) => (e, seen),
        other => panic!("no `{kind}` of {id} within {WAIT:?}; got {seen:#?} then {other:#?}"),
    }
}

/// SPEC R32: what a dashboard needs to follow a change made elsewhere.
#[test]
fn r32_settings_changes_are_published_with_the_object_as_get_shows_it() {
    let s = Server::start();
    let mut all = open(&s, "/v1/events");

    let put = s.put_agent("alice", &["support"]);
    let (event, _) = next_change(&mut all, "agent.changed", "alice");
    assert_eq!(event.data["object"], put, "the agent as PUT answered it");
    assert_eq!(event.data["object"], s.get("/v1/agents/alice"));
    assert_eq!(event.data["type"], "agent.changed");
    assert!(event.data["at"].as_str().is_some(), "{:?}", event.data);
    let first_id: u64 = event.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(
        event.data["id"],
        first_id.to_string(),
        "numbered as every event"
    );

    s.put_channel("web", &["alice"], json!({"check_availability": false}));
    let (event, _) = next_change(&mut all, "channel.changed", "web");
    assert_eq!(event.data["object"], s.get("/v1/channels/web"));
    assert_eq!(event.data["object"]["check_availability"], false);

    // Switched back on through the API: the page that shows "check off" learns it.
    let patched = s.patch_channel("web", json!({"check_availability": true}));
    let (event, _) = next_change(&mut all, "channel.changed", "web");
    assert_eq!(event.data["object"], patched);
    assert_eq!(event.data["object"]["check_availability"], true);
    assert!(event.id.as_deref().unwrap().parse::<u64>().unwrap() > first_id);

    // A change that changes nothing publishes nothing; the next real one comes next.
    s.patch_channel("web", json!({"check_availability": true}));
    s.put_agent("alice", &["support"]);
    s.put_agent("alice", &["support", "sales"]);
    let (event, between) = next_change(&mut all, "agent.changed", "alice");
    assert_eq!(event.data["object"]["groups"], json!(["support", "sales"]));
    assert!(
        between
            .iter()
            .all(|e| !e.event.ends_with(".changed") || e.event == "agent.availability_changed"),
        "nothing changed, nothing published: {between:#?}"
    );
}

/// SPEC R29, R26: retained and resumable like every event; `?channel=` and `?agent=` select
/// them; an agent's own stream carries its own changes only.
#[test]
fn r29_settings_changes_are_retained_resumable_and_filtered() {
    let mut s = Server::start();
    let admin = s.create_token("root", "admin", None);
    s.set_token(Some(&admin));
    let alice = s.create_token("alice-token", "agent", Some("alice"));
    s.put_agent("alice", &[]);
    s.put_agent("bob", &[]);
    s.put_channel("web", &["alice", "bob"], json!({}));
    s.put_channel("mail", &["bob"], json!({}));
    s.patch_channel("web", json!({"max_chats": 3}));
    s.put_agent("alice", &["night"]);

    let auth = format!("Bearer {admin}");
    let resumed = |path: &str| {
        EventStream::open_with(s.port, path, &[("Authorization", auth.as_str())]).unwrap()
    };
    // Resumed from the start: every change, in order, read back from the store.
    let mut stream = resumed("/v1/events?after=0");
    let seen = stream.read_until(WAIT, |e| {
        e.event == "agent.changed" && e.data["object"]["groups"] == json!(["night"])
    });
    let kinds: Vec<(String, Value)> = seen
        .iter()
        .filter(|e| e.event.ends_with(".changed") && e.event != "agent.availability_changed")
        .map(|e| (e.event.clone(), e.data["object"]["id"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("agent.changed".into(), json!("alice")),
            ("agent.changed".into(), json!("bob")),
            ("channel.changed".into(), json!("web")),
            ("channel.changed".into(), json!("mail")),
            ("channel.changed".into(), json!("web")),
            ("agent.changed".into(), json!("alice")),
        ]
    );

    // `?channel=web`: its own changes, no other channel's, no agent's.
    let mut web = resumed("/v1/events?after=0&channel=web");
    let (patched, before) = next_change(&mut web, "channel.changed", "web");
    assert!(
        patched.data["object"]["max_chats"].is_null(),
        "the PUT first"
    );
    let (patched, more) = next_change(&mut web, "channel.changed", "web");
    assert_eq!(patched.data["object"]["max_chats"], 3);
    for e in before.iter().chain(&more) {
        assert!(
            e.event != "agent.changed" && e.data["channel"] == "web",
            "only web's events: {e:?}"
        );
    }

    // An agent's token: its own changes, live, and nobody else's.
    let mine = format!("Bearer {alice}");
    let mut own =
        EventStream::open_with(s.port, "/v1/events", &[("Authorization", &mine)]).unwrap();
    s.put_agent("bob", &["night"]);
    s.put_agent("alice", &["day"]);
    let (event, before) = next_change(&mut own, "agent.changed", "alice");
    assert_eq!(event.data["object"]["groups"], json!(["day"]));
    assert!(
        before.iter().all(|e| e.data["agent"] == "alice"),
        "{before:#?}"
    );
}

/// API.md "Channels": the config file's channels are applied at start — a change like any
/// other, published before the server serves.
#[test]
fn r32_a_channel_set_by_the_config_file_at_start_is_published() {
    let s = Server::builder()
        .extra("[[channels]]\nid = \"cfg\"\nname = \"From the file\"\ncheck_availability = false\nqueue = []\n")
        .start();
    let mut stream = open(&s, "/v1/events?after=0");
    let (event, _) = next_change(&mut stream, "channel.changed", "cfg");
    assert_eq!(event.data["object"]["name"], "From the file");
    assert_eq!(event.data["object"], s.get("/v1/channels/cfg"));
}

/// SPEC R30: a webhook may ask for settings changes, and gets them.
#[test]
fn r30_a_webhook_receives_settings_changes() {
    let s = Server::start();
    let receiver = Receiver::start();
    s.expect(
        "POST",
        "/v1/webhooks",
        Some(
            json!({"url": receiver.url("/changes"), "events": ["channel.changed", "agent.changed"],
                    "secret": "whsec-0123456789abcdef"}),
        ),
        &[201],
    );
    s.put_agent("alice", &[]);
    s.put_channel("web", &["alice"], json!({}));
    let got = receiver.wait_for(WAIT, |got| got.len() >= 2);
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert_eq!(bodies[0]["type"], "agent.changed");
    assert_eq!(bodies[0]["object"], s.get("/v1/agents/alice"));
    assert_eq!(bodies[1]["type"], "channel.changed");
    assert_eq!(bodies[1]["object"], s.get("/v1/channels/web"));
}

/// The counter of published events counts settings changes too: its sum is every event
/// numbered (what `loadgen --webhook` waits for on a fresh store).
#[test]
fn r29_the_events_counter_sums_to_every_event_numbered() {
    let s = Server::start();
    s.put_agent("alice", &[]);
    s.put_channel("web", &["alice"], json!({"check_availability": false}));
    s.new_conversation("web", "c1");
    let mut stream = open(&s, "/v1/events?after=0");
    let seen = stream.read_until(WAIT, |e| e.event == "conversation.offered");
    let newest: u64 = seen
        .last()
        .and_then(|e| e.id.as_deref())
        .unwrap()
        .parse()
        .unwrap();
    let metrics = s.call("GET", "/metrics", None).text();
    let count = |kind: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("openline_events_total{{type=\"{kind}\"}} ")))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    assert_eq!(
        (count("agent.changed"), count("channel.changed")),
        (1, 1),
        "{metrics}"
    );
    let sum: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("openline_events_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum, newest, "{metrics}");
}
