//! Recording and replay end to end: rooms that record their text and gifts, read back
//! through `GET /v1/rooms/{id}/recording` by time range and page by page.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use throng_protocol::{DeliveryMode, Message};

/// The recorder writes in batches off the publish path: wait until the room's recording
/// holds `n` messages (recording only ever grows in these tests), then return them all.
async fn wait_recorded(server: &TestServer, room: &str, n: usize) -> Vec<Message> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let messages = page(server, room, &format!("from=0&to={}", u64::MAX)).await;
            let messages: Vec<Message> =
                serde_json::from_value(messages["messages"].clone()).unwrap();
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("room {room} never recorded {n} messages"))
}

/// One page of a room's recording; panics unless the reply is 200.
async fn page(server: &TestServer, room: &str, query: &str) -> Value {
    let (status, body) = server
        .api(
            reqwest::Method::GET,
            &format!("/v1/rooms/{room}/recording?{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{room}?{query}: {body}");
    body
}

async fn publish_kind(server: &TestServer, room: &str, kind: &str, body: Value) -> u64 {
    let (status, reply) = server
        .api(
            reqwest::Method::POST,
            &format!("/v1/rooms/{room}/messages"),
            Some(json!({"kind": kind, "body": body})),
        )
        .await;
    assert_eq!(status, 201, "publish {kind}: {reply}");
    reply["seq"].as_u64().unwrap()
}

fn recording_on() -> Value {
    json!({"recording": {"enabled": true, "kinds": ["text", "gift"]}})
}

#[tokio::test]
async fn listed_kinds_from_clients_and_the_api_are_recorded_as_members_saw_them() {
    let server = TestServer::start().await;
    server.create_room("show", recording_on()).await;
    server.create_room("quiet", json!({})).await;
    let (alice, _alice_events) = server.client("alice").await;
    let (bob, mut bob_events) = server.client("bob").await;
    alice.join("show", DeliveryMode::Push).await.unwrap();
    bob.join("show", DeliveryMode::Push).await.unwrap();

    alice
        .send("show", "text", json!({"text": "hi"}))
        .await
        .unwrap();
    alice
        .send("show", "like", json!({"count": 1}))
        .await
        .unwrap();
    bob.send("show", "text", json!({"text": "hello"}))
        .await
        .unwrap();
    publish_kind(&server, "show", "notice", json!({"text": "not listed"})).await;
    publish_kind(&server, "quiet", "text", json!({"text": "off"})).await;
    publish_kind(&server, "show", "gift", json!({"gift": "rocket"})).await;
    alice
        .send("show", "text", json!({"text": "wow"}))
        .await
        .unwrap();
    // Published last: once it is recorded, everything published before it has been
    // through the recorder (one queue, written in order).
    publish_kind(&server, "show", "gift", json!({"gift": "last"})).await;

    let recorded = wait_recorded(&server, "show", 5).await;
    let summary: Vec<(String, String, Value)> = recorded
        .iter()
        .map(|m| (m.from.clone(), m.kind.clone(), m.body.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".into(), "text".into(), json!({"text": "hi"})),
            ("bob".into(), "text".into(), json!({"text": "hello"})),
            ("@server".into(), "gift".into(), json!({"gift": "rocket"})),
            ("alice".into(), "text".into(), json!({"text": "wow"})),
            ("@server".into(), "gift".into(), json!({"gift": "last"})),
        ],
        "text and gifts in order; the like and the notice are not recorded"
    );
    // Exactly the messages a member received: same seqs, timestamps and lanes.
    let mut got = Vec::new();
    collect_until(&mut bob_events, &mut got, |g| {
        g.iter().any(|m| m.body == json!({"gift": "last"}))
    })
    .await;
    let seen: Vec<Message> = got
        .into_iter()
        .filter(|m| m.kind == "text" || m.kind == "gift")
        .collect();
    assert_eq!(recorded, seen);

    let quiet = page(&server, "quiet", &format!("from=0&to={}", u64::MAX)).await;
    assert_eq!(
        quiet,
        json!({"room": "quiet", "messages": [], "next": null}),
        "a room with recording off records nothing"
    );
}

#[tokio::test]
async fn pages_follow_next_and_time_ranges_cut_at_both_ends() {
    let server = TestServer::start().await;
    server.create_room("vod", recording_on()).await;
    for n in 0..25 {
        publish_kind(&server, "vod", "text", json!({"n": n})).await;
        if n % 5 == 0 {
            // Spread the messages over a few milliseconds, so ranges have room to cut.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let all = wait_recorded(&server, "vod", 25).await;
    let bodies: Vec<Value> = all.iter().map(|m| m.body["n"].clone()).collect();
    assert_eq!(bodies, (0..25).map(|n| json!(n)).collect::<Vec<_>>());

    // Pages of 7 from the start of the range: each message once, in order.
    let to = all.last().unwrap().ts;
    let mut query = format!("from=0&to={to}&limit=7");
    let mut paged: Vec<Message> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let reply = page(&server, "vod", &query).await;
        assert_eq!(reply["room"], "vod");
        let messages: Vec<Message> = serde_json::from_value(reply["messages"].clone()).unwrap();
        sizes.push(messages.len());
        paged.extend(messages);
        match &reply["next"] {
            Value::Null => break,
            next => {
                query = format!(
                    "from={}&to={to}&limit=7&after_seq={}",
                    next["from"], next["after_seq"]
                );
            }
        }
    }
    assert_eq!(
        paged, all,
        "paging returns everything exactly once, in order"
    );
    assert_eq!(sizes, [7, 7, 7, 4]);

    // Ranges: from and to are both inclusive.
    let cases = [(0, 24), (5, 19), (10, 10), (24, 24), (0, 0)];
    for (first, last) in cases {
        let (from, to) = (all[first].ts, all[last].ts);
        let reply = page(&server, "vod", &format!("from={from}&to={to}")).await;
        let got: Vec<Message> = serde_json::from_value(reply["messages"].clone()).unwrap();
        let expected: Vec<Message> = all
            .iter()
            .filter(|m| from <= m.ts && m.ts <= to)
            .cloned()
            .collect();
        assert!(got.contains(&all[first]) && got.contains(&all[last]));
        assert_eq!(got, expected, "from {from} to {to}");
        assert_eq!(reply["next"], Value::Null);
    }
    let after_all = page(&server, "vod", &format!("from={}&to={}", to + 1, u64::MAX)).await;
    assert_eq!(after_all["messages"], json!([]));
}

#[tokio::test]
async fn bad_recording_queries_get_4xx_codes() {
    let server = TestServer::start().await;
    server.create_room("r", recording_on()).await;
    let max = u64::MAX;
    let cases = [
        // (room, query, status, code)
        ("r", String::new(), 400, "invalid_range"),
        ("r", "from=5".to_owned(), 400, "invalid_range"),
        ("r", "to=5".to_owned(), 400, "invalid_range"),
        ("r", "from=10&to=5".to_owned(), 400, "invalid_range"),
        ("r", "from=abc&to=5".to_owned(), 400, "invalid_range"),
        ("r", "from=-1&to=5".to_owned(), 400, "invalid_range"),
        ("r", format!("from=0&to={max}0"), 400, "invalid_range"),
        ("r", "from=0&to=5&limit=0".to_owned(), 400, "invalid_limit"),
        (
            "r",
            "from=0&to=5&limit=1001".to_owned(),
            400,
            "invalid_limit",
        ),
        (
            "r",
            "from=0&to=5&limit=ten".to_owned(),
            400,
            "invalid_limit",
        ),
        (
            "r",
            "from=0&to=5&after_seq=x".to_owned(),
            400,
            "invalid_after_seq",
        ),
        ("nope", "from=0&to=5".to_owned(), 404, "room_not_found"),
        ("bad room", "from=0&to=5".to_owned(), 400, "invalid_room_id"),
    ];
    for (room, query, status, code) in cases {
        let (got, body) = server
            .api(
                reqwest::Method::GET,
                &format!("/v1/rooms/{room}/recording?{query}"),
                None,
            )
            .await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{room}?{query}: {body}"
        );
    }
    // The extremes are valid and answer, empty.
    for query in [
        format!("from={max}&to={max}"),
        format!("from=0&to={max}&limit=1000&after_seq={max}"),
        "from=0&to=5&limit=1".to_owned(),
    ] {
        let reply = page(&server, "r", &query).await;
        assert_eq!(reply["messages"], json!([]), "{query}");
    }
}

#[tokio::test]
async fn recorded_messages_survive_a_restart_and_recording_goes_on() {
    let mut server = TestServer::start().await;
    server.create_room("kept", recording_on()).await;
    for n in 0..3 {
        publish_kind(&server, "kept", "text", json!({"n": n})).await;
    }
    // No wait: the drain stores what the recorder still holds.
    server.restart().await;
    let before = page(&server, "kept", &format!("from=0&to={}", u64::MAX)).await;
    let before: Vec<Message> = serde_json::from_value(before["messages"].clone()).unwrap();
    assert_eq!(
        before
            .iter()
            .map(|m| m.body["n"].clone())
            .collect::<Vec<_>>(),
        [json!(0), json!(1), json!(2)]
    );
    publish_kind(&server, "kept", "text", json!({"n": 3})).await;
    let after = wait_recorded(&server, "kept", 4).await;
    assert_eq!(&after[..3], &before[..]);
    assert_eq!(after[3].body, json!({"n": 3}));
    assert!(after[3].seq > after[2].seq, "seqs go on across the restart");
}
