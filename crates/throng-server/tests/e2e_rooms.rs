//! Live rooms end to end: a real server on port 0, the Rust SDK and raw sockets.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use throng_client::{Client, Event, ReconnectPolicy};
use throng_protocol::{
    ClientFrame, CloseCode, Codec, DeliveryMode, LeaveReason, Priority, ServerFrame, Skipped,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn clients_see_each_others_messages_in_seq_order() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let (client, events) = server.client(user).await;
        client.join("chat", DeliveryMode::Push).await.unwrap();
        clients.push((user, client, events));
    }
    let sends = clients.iter().map(|(user, client, _)| async move {
        for i in 0..10 {
            client
                .send("chat", "text", json!({"text": format!("{user} {i}")}))
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(sends).await;
    for (user, _, events) in &mut clients {
        let mut got = Vec::new();
        collect_until(events, &mut got, |g| g.len() >= 30).await;
        assert_eq!(
            positions(&got),
            (1..=30).collect::<Vec<_>>(),
            "{user} sees every message once, in seq order"
        );
        for sender in ["alice", "bob", "carol"] {
            let texts: Vec<String> = got
                .iter()
                .filter(|m| m.from == sender)
                .map(|m| m.body["text"].as_str().unwrap().to_owned())
                .collect();
            let expect: Vec<String> = (0..10).map(|i| format!("{sender} {i}")).collect();
            assert_eq!(
                texts, expect,
                "{user} sees {sender}'s messages in the order sent"
            );
        }
    }
}

#[tokio::test]
async fn a_json_and_a_msgpack_client_see_the_same_messages() {
    let server = TestServer::start().await;
    let (json_client, mut json_events) = server.client("j").await;
    let mut config = server.client_config(server.token("m"));
    config.codec = Codec::MsgPack;
    let (msgpack_client, mut msgpack_events) = Client::connect(config).await.unwrap();
    json_client.join("mixed", DeliveryMode::Push).await.unwrap();
    msgpack_client
        .join("mixed", DeliveryMode::Push)
        .await
        .unwrap();
    json_client
        .send("mixed", "text", json!({"a": [1, 2, {"b": null}]}))
        .await
        .unwrap();
    msgpack_client
        .send("mixed", "text", json!("from msgpack"))
        .await
        .unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    collect_until(&mut json_events, &mut a, |g| g.len() >= 2).await;
    collect_until(&mut msgpack_events, &mut b, |g| g.len() >= 2).await;
    assert_eq!(a, b);
    assert_eq!(a[1].body, json!("from msgpack"));
}

#[tokio::test]
async fn a_first_join_gets_the_latest_fifty_messages() {
    let server = TestServer::start().await;
    server.create_room("history", json!({})).await;
    let mut published = Vec::new();
    for i in 1..=60 {
        published.push(
            server
                .publish("history", Priority::System, json!({"n": i}))
                .await,
        );
    }
    let (client, _events) = server.client("late").await;
    let joined = client.join("history", DeliveryMode::Push).await.unwrap();
    assert_eq!(seqs(&joined.msgs), published[10..].to_vec());
    assert_eq!(joined.seq, published[59]);
    assert_eq!(joined.online, 1);
}

/// A raw client whose socket has a tiny receive buffer and that reads nothing until told.
async fn stalled_client(server: &TestServer, room: &str) -> RawClient {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(server.url.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let url = format!(
        "{}/v1/ws?token={}",
        server.url.replacen("http", "ws", 1),
        server.token("stalled")
    );
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    let mut raw = RawClient { ws };
    assert!(matches!(raw.next_frame().await, ServerFrame::Hello { .. }));
    assert!(matches!(raw.join(room).await, ServerFrame::Joined { .. }));
    raw
}

/// Reads a raw client's batches until, per priority, received + skipped reaches `sent`.
async fn drain_raw(
    raw: &mut RawClient,
    sent: HashMap<Priority, u64>,
) -> (HashMap<Priority, u64>, Skipped) {
    let mut received: HashMap<Priority, u64> = HashMap::new();
    let mut skipped = Skipped::default();
    let done = |received: &HashMap<Priority, u64>, skipped: &Skipped| {
        sent.iter()
            .all(|(p, n)| received.get(p).copied().unwrap_or(0) + skipped.get(*p) >= *n)
    };
    while !done(&received, &skipped) {
        if let ServerFrame::Batch {
            msgs, skipped: s, ..
        } = raw.next_frame().await
        {
            for m in msgs {
                *received.entry(m.priority).or_insert(0) += 1;
            }
            for p in Priority::ALL {
                skipped.add(p, s.map_or(0, |s| s.get(p)));
            }
        }
    }
    (received, skipped)
}

#[tokio::test]
async fn a_stalled_client_neither_blocks_fast_ones_nor_makes_the_server_queue_for_it() {
    let server = TestServer::start_with(|c| c.gateway.socket_send_buffer_bytes = 8192).await;
    server
        .create_room("stall", json!({"ring_system": 64}))
        .await;
    let mut fast = Vec::new();
    for i in 0..100 {
        let (client, events) = server.client(&format!("fast{i}")).await;
        client.join("stall", DeliveryMode::Push).await.unwrap();
        fast.push((client, events, Vec::new()));
    }
    let mut stalled = stalled_client(&server, "stall").await;
    let body = json!({"pad": "x".repeat(1000)});
    let (rounds, per_round) = (20u64, 20u64);
    for round in 1..=rounds {
        for _ in 0..per_round {
            server
                .publish("stall", Priority::System, body.clone())
                .await;
        }
        // Every fast client keeps up, round after round, while one member reads nothing.
        for (_, events, got) in &mut fast {
            collect_until(events, got, |g| g.len() as u64 >= round * per_round).await;
        }
    }
    let total = rounds * per_round;
    for (_, _, got) in &fast {
        assert_eq!(positions(got), (1..=total).collect::<Vec<_>>());
    }
    // The server skipped for the stalled member instead of queueing: once it reads again
    // it gets the ring's last 64 messages and a count of what fell off before.
    let (received, skipped) =
        drain_raw(&mut stalled, HashMap::from([(Priority::System, total)])).await;
    assert_eq!(
        received[&Priority::System] + skipped.system,
        total,
        "every message is either delivered or counted"
    );
    assert!(
        received[&Priority::System] < total / 2,
        "most were skipped, not buffered: got {received:?}"
    );
    let dropped = metric(
        &server.metrics().await,
        "throng_messages_dropped_total",
        "priority=\"system\"",
    );
    assert!(
        dropped >= skipped.system as f64,
        "skips are counted in the metrics ({dropped})"
    );
}

#[tokio::test]
async fn under_overload_low_goes_first_and_system_never() {
    let server = TestServer::start_with(|c| c.gateway.socket_send_buffer_bytes = 8192).await;
    server
        .create_room(
            "overload",
            json!({"ring_system": 1024, "ring_high": 64, "ring_low": 16, "rate_per_sec": 100000}),
        )
        .await;
    let mut stalled = stalled_client(&server, "overload").await;
    let body = json!({"pad": "y".repeat(1000)});
    let per_lane = 300u64;
    for _ in 0..per_lane {
        for priority in Priority::ALL {
            server.publish("overload", priority, body.clone()).await;
        }
    }
    let sent = HashMap::from(Priority::ALL.map(|p| (p, per_lane)));
    let (received, skipped) = drain_raw(&mut stalled, sent).await;
    let got = |p| received.get(&p).copied().unwrap_or(0);
    for p in Priority::ALL {
        assert_eq!(
            got(p) + skipped.get(p),
            per_lane,
            "{p:?}: delivered + skipped = sent"
        );
    }
    assert_eq!(skipped.system, 0, "system is never dropped");
    assert!(
        skipped.low > skipped.high && skipped.high > 0,
        "low is dropped before high: {skipped:?}"
    );
}

#[tokio::test]
async fn a_reconnect_within_ring_capacity_resumes_without_loss() {
    let server = TestServer::start().await;
    server.create_room("resume", json!({})).await;
    let (client, mut events) = server.client("viewer").await;
    client.join("resume", DeliveryMode::Push).await.unwrap();
    for i in 1..=20 {
        server
            .publish("resume", Priority::High, json!({"n": i}))
            .await;
    }
    let mut got = Vec::new();
    collect_until(&mut events, &mut got, |g| g.len() >= 20).await;
    client.drop_connection();
    for i in 21..=50 {
        server
            .publish("resume", Priority::High, json!({"n": i}))
            .await;
    }
    let (mut disconnected, mut reconnected) = (false, false);
    tokio::time::timeout(PATIENCE, async {
        while got.len() < 50 {
            match events.next().await.expect("events") {
                Event::Messages { msgs, skipped, .. } => {
                    assert!(skipped.is_empty());
                    got.extend(msgs);
                }
                Event::Disconnected { will_reconnect, .. } => {
                    assert!(will_reconnect);
                    disconnected = true;
                }
                Event::Reconnected { resumed_rooms } => {
                    assert_eq!(resumed_rooms, ["resume"]);
                    reconnected = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("resumed in time");
    assert!(disconnected && reconnected);
    assert_eq!(
        positions(&got),
        (1..=50).collect::<Vec<_>>(),
        "every message exactly once, in order"
    );
    // Nothing else trickles in afterwards.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Some(event) = events.try_next() {
        assert!(
            !matches!(event, Event::Messages { ref msgs, .. } if !msgs.is_empty()),
            "duplicate after resume: {event:?}"
        );
    }
}

#[tokio::test]
async fn notify_mode_delivers_through_pulls() {
    let server = TestServer::start().await;
    let (client, mut events) = server.client("puller").await;
    client.join("quiet", DeliveryMode::Notify).await.unwrap();
    let (sender, _) = server.client("talker").await;
    sender.join("quiet", DeliveryMode::Push).await.unwrap();
    for i in 0..5 {
        sender.send("quiet", "text", json!(i)).await.unwrap();
    }
    let mut got = Vec::new();
    collect_until(&mut events, &mut got, |g| g.len() >= 5).await;
    assert_eq!(positions(&got), [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn deleting_a_room_tells_its_members() {
    let server = TestServer::start().await;
    server.create_room("doomed", json!({})).await;
    let (client, mut events) = server.client("member").await;
    client.join("doomed", DeliveryMode::Push).await.unwrap();
    let (status, _) = server
        .api(reqwest::Method::DELETE, "/v1/rooms/doomed", None)
        .await;
    assert_eq!(status, 204);
    let left = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Event::Left { room, reason }) = events.next().await {
                return (room, reason);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(left, ("doomed".to_owned(), LeaveReason::RoomDeleted));
    let (status, _) = server
        .api(reqwest::Method::GET, "/v1/rooms/doomed", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn drain_closes_everyone_with_the_reconnect_code() {
    let mut server = TestServer::start().await;
    let mut sdk_clients = Vec::new();
    for i in 0..5 {
        let mut config = server.client_config(server.token(&format!("u{i}")));
        config.reconnect = ReconnectPolicy::never();
        let (client, events) = Client::connect(config).await.unwrap();
        client.join("drained", DeliveryMode::Push).await.unwrap();
        sdk_clients.push((client, events));
    }
    let mut raw = RawClient::connect(&server.url, &server.token("raw")).await;
    let running = server.server.take().unwrap();
    let url = running.url();
    let report = tokio::spawn(running.drain());
    assert_eq!(raw.close_code().await, Some(CloseCode::DRAINING.0));
    assert!(CloseCode::DRAINING.should_reconnect());
    for (_, events) in &mut sdk_clients {
        let code = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(Event::Disconnected { close_code, .. }) = events.next().await {
                    return close_code;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(code, Some(CloseCode::DRAINING));
    }
    let report = report.await.unwrap();
    assert_eq!(report.connections, 6);
    assert_eq!(report.forced, 0, "every client left before the deadline");
    // Once drained, nothing is accepted any more.
    let ws_url = format!(
        "{}/v1/ws?token={}",
        url.replacen("http", "ws", 1),
        server.token("late")
    );
    assert!(tokio_tungstenite::connect_async(ws_url).await.is_err());
}

#[tokio::test]
async fn the_server_api_manages_rooms_and_reports_them() {
    let server = TestServer::start_with(|c| c.rooms.auto_create = false).await;
    let created = server
        .create_room("managed", json!({"rate_per_sec": 50}))
        .await;
    assert_eq!(created["settings"]["rate_per_sec"], 50);
    assert_eq!(
        created["settings"]["ring_low"], 1024,
        "unset fields take the defaults"
    );
    let (client, _events) = server.client("watcher").await;
    client.join("managed", DeliveryMode::Push).await.unwrap();
    let seq = server
        .publish("managed", Priority::System, json!("notice"))
        .await;
    let (status, info) = server
        .api(reqwest::Method::GET, "/v1/rooms/managed", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (info["online"].as_u64(), info["seq"].as_u64()),
        (Some(1), Some(seq))
    );
    let (status, patched) = server
        .api(
            reqwest::Method::PATCH,
            "/v1/rooms/managed",
            Some(json!({"settings": {"ring_low": 8}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (
            patched["settings"]["ring_low"].as_u64(),
            patched["settings"]["rate_per_sec"].as_u64()
        ),
        (Some(8), Some(50))
    );
    let (status, list) = server
        .api(reqwest::Method::GET, "/v1/rooms?limit=10", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["rooms"].as_array().unwrap().len(), 1);
    let openapi: serde_json::Value = reqwest::get(format!("{}/v1/openapi.json", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/rooms/{id}/messages"]["post"].is_object());
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            reqwest::get(format!("{}{path}", server.url))
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
    assert!(server.metrics().await.contains("throng_connections"));
}

#[tokio::test]
async fn a_raw_client_can_speak_msgpack_by_subprotocol() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let mut request = format!(
        "{}/v1/ws?token={}",
        server.url.replacen("http", "ws", 1),
        server.token("bin")
    )
    .into_client_request()
    .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "throng.v1.msgpack".parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "throng.v1.msgpack"
    );
    let hello = ws.next().await.unwrap().unwrap();
    let WsMessage::Binary(bytes) = hello else {
        panic!("expected a binary hello, got {hello:?}")
    };
    assert!(matches!(
        Codec::MsgPack.decode_server(&bytes).unwrap(),
        ServerFrame::Hello { .. }
    ));
    let frame = Codec::MsgPack.encode_client(&ClientFrame::Ping { id: Some(9) });
    futures_util::SinkExt::send(&mut ws, WsMessage::Binary(frame))
        .await
        .unwrap();
    let WsMessage::Binary(bytes) = ws.next().await.unwrap().unwrap() else {
        panic!("binary pong")
    };
    assert!(matches!(
        Codec::MsgPack.decode_server(&bytes).unwrap(),
        ServerFrame::Pong { id: Some(9), .. }
    ));
}
