//! The seed article's three outcomes end to end, on each store backend (SPEC R14a/b/c, R15,
//! R17 history): "An unaccepted conversation returns to the general queue and is directed to
//! available employees", "an accepted conversation with the last message from the agent
//! remains with the employee" until the next customer message, and "an accepted conversation
//! with the last message from the customer returns to the general queue".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openline_tests::*;

/// Channel `ch` with agents `{ch}-a` (online in the mobile app) and `{ch}-b` (online in the
/// browser); returns their ids.
fn pair(s: &Server, ch: &str) -> (String, String) {
    let (a, b) = (format!("{ch}-a"), format!("{ch}-b"));
    s.put_agent(&a, &[]);
    s.put_agent(&b, &[]);
    s.put_channel(ch, &[&a, &b], json!({"max_chats": 1}));
    s.signal(&a, "mobile", "foreground");
    (a, b)
}

fn seed_scenarios(backend: &Backend) {
    let s = Server::builder().backend(backend).start();

    // 1. Offered, not accepted: the app goes to the background; 5 minutes later it is offline,
    //    the offer returns to the queue and goes to the available colleague.
    let (a, b) = pair(&s, "one");
    assert_offered(&s.new_conversation("one", "u1"), &[&a]);
    s.signal(&a, "mobile", "background");
    s.signal(&b, "browser", "activity");
    s.advance(299);
    assert_offered(&s.conversation("u1"), &[&a]);
    s.advance(1);
    let u1 = s.conversation("u1");
    assert_passed_on(&u1, &[&b], &["offer_withdrawn"], &a, "offline");

    // 2. Accepted, agent wrote last: stays; the next customer message sends it back at once.
    let (a, b) = pair(&s, "two");
    s.serve("two", "k1", &a);
    s.agent_says("k1", &a);
    s.signal(&a, "mobile", "close");
    s.signal(&b, "browser", "activity");
    assert_held(&s.conversation("k1"), &a);
    let k1 = s.customer_says("k1");
    assert_passed_on(&k1, &[&b], &["requeued"], &a, "offline");

    // 3. Accepted, customer wrote last: back to the queue at once, then to the colleague.
    let (a, b) = pair(&s, "three");
    s.serve("three", "r1", &a);
    s.agent_says("r1", &a);
    s.customer_says("r1");
    s.signal(&a, "mobile", "close");
    assert_returned_to_queue(&s.conversation("r1"), "requeued", &a, "offline");
    s.signal(&b, "browser", "activity");
    assert_offered(&s.conversation("r1"), &[&b]);
}

backend_tests!(seed_scenarios: r14_seed_scenarios_end_to_end_sqlite, r14_seed_scenarios_end_to_end_postgres);
