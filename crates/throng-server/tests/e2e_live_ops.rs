//! Live-room operations end to end: reliable messages (stored, carried again until
//! acknowledged, kept across a restart), type policies (likes aggregated, drop over rate,
//! merged presence notices) and live statistics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use throng_client::Event;
use throng_protocol::{ClientFrame, DeliveryMode, ErrorCode, Message, ServerFrame};

async fn publish_reliable(server: &TestServer, room: &str, body: Value, msg_id: &str) -> Value {
    let (status, reply) = server
        .api(
            reqwest::Method::POST,
            &format!("/v1/rooms/{room}/messages"),
            Some(json!({"kind": "gift", "body": body, "reliable": true, "msg_id": msg_id})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    reply
}

/// Reliable messages a raw client receives until `done`, acknowledging each frame's
/// reliable messages when `ack` says so. Returns every reliable message received,
/// repeats included.
async fn read_reliable(
    client: &mut RawClient,
    room: &str,
    ack: bool,
    done: impl Fn(&[Message]) -> bool,
) -> Vec<Message> {
    let mut got = Vec::new();
    while !done(&got) {
        let msgs = match client.next_frame().await {
            ServerFrame::Batch { msgs, .. } | ServerFrame::Joined { msgs, .. } => msgs,
            _ => continue,
        };
        let reliable: Vec<Message> = msgs.into_iter().filter(|m| m.id.is_some()).collect();
        if ack && !reliable.is_empty() {
            let seqs = reliable.iter().map(|m| m.seq).collect();
            client
                .send(&ClientFrame::Ack {
                    room: room.into(),
                    seqs,
                })
                .await;
        }
        got.extend(reliable);
    }
    got
}

#[tokio::test]
async fn a_reliable_message_is_carried_again_until_acked_and_stored_once_per_id() {
    let server = TestServer::start().await;
    server.create_room("gifts", json!({})).await;
    let mut acking = RawClient::connect(&server.url, &server.token("acking")).await;
    let mut silent = RawClient::connect(&server.url, &server.token("silent")).await;
    acking.join("gifts").await;
    silent.join("gifts").await;
    let first = publish_reliable(&server, "gifts", json!({"gift": "rocket"}), "order-1").await;
    // The same id again (a retried request) publishes nothing new.
    let again = publish_reliable(&server, "gifts", json!({"gift": "rocket"}), "order-1").await;
    assert_eq!(first["seq"], again["seq"]);
    assert_eq!(first["id"], "order-1");

    // A client that acks gets it once.
    let once = read_reliable(&mut acking, "gifts", true, |g| !g.is_empty()).await;
    assert_eq!(once.len(), 1);
    // One that never acks gets it three times in all (max_tries), then the room gives up.
    let repeats = read_reliable(&mut silent, "gifts", false, |g| g.len() >= 3).await;
    assert!(repeats.iter().all(|m| m.id.as_deref() == Some("order-1")));
    assert!(repeats.iter().all(|m| Some(m.seq) == first["seq"].as_u64()));
    // The silent client was carried the message twice more, then given up on; the
    // acking one never was (unless its ack took over a second, which only adds retries).
    let metrics = tokio::time::timeout(PATIENCE, async {
        loop {
            let metrics = server.metrics().await;
            if metric(&metrics, "throng_reliable_gave_up_total", "") >= 1.0 {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the room gives up on the silent client");
    assert!(metric(&metrics, "throng_reliable_retries_total", "") >= 2.0);
    assert_eq!(metric(&metrics, "throng_reliable_gave_up_total", ""), 1.0);
    assert_eq!(metric(&metrics, "throng_reliable_messages_total", ""), 1.0);
}

#[tokio::test]
async fn reliable_messages_sent_while_a_client_is_cut_off_arrive_exactly_once() {
    let server = TestServer::start().await;
    server.create_room("cut", json!({})).await;
    let (client, mut events) = server.client("viewer").await;
    client.join("cut", DeliveryMode::Push).await.unwrap();
    let mut got = Vec::new();
    for round in 0..3 {
        client.drop_connection();
        for i in 0..5 {
            publish_reliable(
                &server,
                "cut",
                json!({"round": round, "i": i}),
                &format!("g{round}-{i}"),
            )
            .await;
        }
        collect_until(&mut events, &mut got, |g| g.len() >= (round + 1) * 5).await;
    }
    // Give retries and resumes time to deliver any repeat.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while let Some(event) = events.try_next() {
        if let Event::Messages { msgs, .. } = event {
            got.extend(msgs);
        }
    }
    let mut ids: Vec<String> = got.iter().filter_map(|m| m.id.clone()).collect();
    assert_eq!(ids.len(), 15, "each gift once: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 15);
    // The SDK acknowledged every copy it got: the room gave up on none.
    let metrics = server.metrics().await;
    assert_eq!(metric(&metrics, "throng_reliable_gave_up_total", ""), 0.0);
}

#[tokio::test]
async fn unacknowledged_reliable_messages_survive_a_restart() {
    let mut server = TestServer::start().await;
    server.create_room("kept", json!({})).await;
    let token = server.token("late");
    let mut before = RawClient::connect(&server.url, &token).await;
    let ServerFrame::Joined { seq: since, .. } = before.join("kept").await else {
        panic!("joined");
    };
    drop(before);
    let gift = publish_reliable(&server, "kept", json!({"gift": "castle"}), "castle-1").await;
    server.restart().await;
    // The room's seqs go on from where they were: nothing after the restart reuses one.
    let after = server
        .publish("kept", throng_protocol::Priority::System, json!("hi"))
        .await;
    assert!(after > gift["seq"].as_u64().unwrap());
    let mut resumed = RawClient::connect(&server.url, &token).await;
    resumed
        .send(&ClientFrame::Join {
            id: Some(1),
            room: "kept".into(),
            since: Some(since),
            mode: DeliveryMode::Push,
        })
        .await;
    let got = read_reliable(&mut resumed, "kept", true, |g| !g.is_empty()).await;
    assert_eq!(got[0].id.as_deref(), Some("castle-1"));
    assert_eq!(got[0].body, json!({"gift": "castle"}));
}

#[tokio::test]
async fn reliable_sends_are_refused_clearly() {
    let server = TestServer::start().await;
    server
        .create_room("strict", json!({"reliable": {"max_pending": 2}}))
        .await;
    let (member, _events) = server.client("member").await;
    member.join("strict", DeliveryMode::Push).await.unwrap();
    let mut raw = RawClient::connect(&server.url, &server.token("raw")).await;
    raw.join("strict").await;
    let send = |reliable: bool, msg_id: Option<&str>| ClientFrame::Send {
        id: Some(7),
        room: "strict".into(),
        kind: "gift".into(),
        body: json!({}),
        priority: None,
        reliable,
        msg_id: msg_id.map(str::to_owned),
    };
    // (frame, expected error code)
    let cases = [
        (send(true, None), ErrorCode::FORBIDDEN),
        (send(true, Some("bad id!")), ErrorCode::FORBIDDEN),
        (
            ClientFrame::Ack {
                room: "strict".into(),
                seqs: vec![1; 300],
            },
            ErrorCode::INVALID_VALUE,
        ),
        (
            ClientFrame::Ack {
                room: "elsewhere".into(),
                seqs: vec![1],
            },
            ErrorCode::NOT_JOINED,
        ),
    ];
    for (frame, code) in cases {
        raw.send(&frame).await;
        loop {
            match raw.next_frame().await {
                ServerFrame::Error { code: got, .. } => {
                    assert_eq!(got, code, "{frame:?}");
                    break;
                }
                ServerFrame::Sent { .. } => panic!("accepted: {frame:?}"),
                _ => {}
            }
        }
    }
    // The API: a bad id, then the backlog bound.
    let (status, reply) = server
        .api(
            reqwest::Method::POST,
            "/v1/rooms/strict/messages",
            Some(json!({"kind": "gift", "body": 1, "reliable": true, "msg_id": "no spaces"})),
        )
        .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("invalid_value"))
    );
    publish_reliable(&server, "strict", json!(1), "a").await;
    publish_reliable(&server, "strict", json!(2), "b").await;
    let (status, reply) = server
        .api(
            reqwest::Method::POST,
            "/v1/rooms/strict/messages",
            Some(json!({"kind": "gift", "body": 3, "reliable": true})),
        )
        .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (429, Some("backlog_full"))
    );
}

#[tokio::test]
async fn ten_thousand_like_taps_in_a_second_arrive_as_counter_updates() {
    let server = TestServer::start().await;
    server.create_room("likes", json!({})).await;
    let (viewer, mut viewer_events) = server.client("viewer").await;
    viewer.join("likes", DeliveryMode::Push).await.unwrap();
    // Ten fans each send ten like messages of a hundred taps (clients coalesce taps).
    let mut fans = Vec::new();
    for i in 0..10 {
        let (fan, events) = server.client(&format!("fan{i}")).await;
        fan.join("likes", DeliveryMode::Push).await.unwrap();
        fans.push((fan, events));
    }
    let sends = fans.iter().map(|(fan, _)| async move {
        for _ in 0..10 {
            fan.send("likes", "like", json!({"count": 100}))
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(sends).await;
    let mut got = Vec::new();
    collect_until(&mut viewer_events, &mut got, |g| {
        g.iter()
            .any(|m| m.kind == "like" && m.body["count"] == 10_000)
    })
    .await;
    let updates: Vec<&Message> = got.iter().filter(|m| m.kind == "like").collect();
    assert!(
        updates.len() < 100,
        "{} like messages for 100 sends",
        updates.len()
    );
    assert!(updates.iter().all(|m| m.from == "@server"));
    let deltas: u64 = updates
        .iter()
        .map(|m| m.body["delta"].as_u64().unwrap())
        .sum();
    assert_eq!(deltas, 10_000);
    let (_, stats) = server
        .api(reqwest::Method::GET, "/v1/rooms/likes/stats", None)
        .await;
    assert_eq!(stats["counters"]["like"], 10_000);
    assert_eq!(stats["connections"], 11);
    assert_eq!(stats["online"], 11);
}

#[tokio::test]
async fn a_drop_over_rate_type_is_dropped_when_the_room_is_over_its_rate() {
    let server = TestServer::start().await;
    server
        .create_room(
            "busy",
            json!({"rate_per_sec": 1, "types": {"cheer": {"policy": "drop_over_rate"}}}),
        )
        .await;
    let mut raw = RawClient::connect(&server.url, &server.token("fan")).await;
    raw.join("busy").await;
    let mut replies = Vec::new();
    for id in 1..=3 {
        raw.send(&ClientFrame::Send {
            id: Some(id),
            room: "busy".into(),
            kind: "cheer".into(),
            body: json!({}),
            priority: None,
            reliable: false,
            msg_id: None,
        })
        .await;
        loop {
            match raw.next_frame().await {
                ServerFrame::Sent { dropped, seq, .. } => {
                    replies.push((dropped, seq == 0));
                    break;
                }
                ServerFrame::Error { code, .. } => panic!("refused with {code}"),
                _ => {}
            }
        }
    }
    assert_eq!(replies, [(false, false), (true, true), (true, true)]);
    let (_, stats) = server
        .api(reqwest::Method::GET, "/v1/rooms/busy/stats", None)
        .await;
    assert_eq!(stats["dropped"]["low"], 2, "{stats}");
}

#[tokio::test]
async fn members_get_stats_and_merged_presence_notices() {
    let server = TestServer::start().await;
    server
        .create_room(
            "stage",
            json!({"stats_interval_ms": 250, "presence_notices": true}),
        )
        .await;
    let (host, mut host_events) = server.client("host").await;
    host.join("stage", DeliveryMode::Push).await.unwrap();
    // The crowd arrives at once, as a crowd does.
    // Kept alive until the end: dropping a client leaves the room.
    let _crowd = futures_util::future::join_all((0..30).map(|i| {
        let server = &server;
        async move {
            let (client, events) = server.client(&format!("guest{i}")).await;
            client.join("stage", DeliveryMode::Push).await.unwrap();
            (client, events)
        }
    }))
    .await;
    let mut notices: Vec<Message> = Vec::new();
    let mut last_stats = None;
    tokio::time::timeout(PATIENCE, async {
        loop {
            match host_events.next().await.expect("events") {
                Event::Messages { msgs, .. } => {
                    notices.extend(msgs.into_iter().filter(|m| m.kind == "join"))
                }
                Event::Stats(stats) => last_stats = Some(stats),
                _ => {}
            }
            let named: u64 = notices
                .iter()
                .map(|m| {
                    m.body["users"].as_array().unwrap().len() as u64
                        + m.body["others"].as_u64().unwrap()
                })
                .sum();
            if named >= 31 && last_stats.as_ref().is_some_and(|s| s.online == 31) {
                break;
            }
        }
    })
    .await
    .expect("notices and stats in time");
    assert!(notices.len() < 31, "merged: {} notices", notices.len());
    assert!(notices.iter().all(|m| m.from == "@server"));
    let stats = last_stats.unwrap();
    assert_eq!((stats.room.as_str(), stats.connections), ("stage", 31));
}

#[tokio::test]
async fn like_totals_outlive_the_room_host_and_go_with_the_room() {
    let server = TestServer::start().await;
    server.create_room("tally", json!({})).await;
    let like = |count: u64| {
        let server = &server;
        async move {
            let (status, reply) = server
                .api(
                    reqwest::Method::POST,
                    "/v1/rooms/tally/messages",
                    Some(json!({"kind": "like", "body": {"count": count}})),
                )
                .await;
            assert_eq!(status, 201, "{reply}");
        }
    };
    // Nobody is in the room, so no host runs: the likes still count.
    like(40).await;
    like(2).await;
    let (viewer, mut events) = server.client("viewer").await;
    viewer.join("tally", DeliveryMode::Push).await.unwrap();
    like(1).await;
    let mut got = Vec::new();
    collect_until(&mut events, &mut got, |g| {
        g.iter().any(|m| m.kind == "like")
    })
    .await;
    assert_eq!(got.last().unwrap().body, json!({"count": 43, "delta": 1}));
    // Deleting the room forgets its counters (and attributes): a new room of the same
    // name starts from zero.
    let (status, _) = server
        .api(reqwest::Method::DELETE, "/v1/rooms/tally", None)
        .await;
    assert_eq!(status, 204);
    server.create_room("tally", json!({})).await;
    let (viewer, mut events) = server.client("viewer2").await;
    viewer.join("tally", DeliveryMode::Push).await.unwrap();
    like(5).await;
    let mut got = Vec::new();
    collect_until(&mut events, &mut got, |g| {
        g.iter().any(|m| m.kind == "like")
    })
    .await;
    assert_eq!(got.last().unwrap().body, json!({"count": 5, "delta": 5}));
}
