//! The SDK against a scripted server on loopback: which frames it writes for reliable
//! messages (acks, reliable sends) and what reaches the app. The scripted server speaks
//! the wire protocol frame by frame, so each test states exactly what the server sends
//! and checks exactly what the client answers.
//!
//! To show that the client wrote no frame (no ack), a test makes the client `ping` and
//! checks that the ping is the next frame: the socket keeps the client's frames in order.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use throng_client::{Client, ClientConfig, ClientError, DeliveryMode, ErrorCode, Event, Events};
use throng_protocol::{ClientFrame, Codec, Message, Priority, ServerFrame};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// Guards every wait against a hang; never an assertion about speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// The server end of one client connection.
struct ScriptedServer {
    ws: WebSocketStream<TcpStream>,
}

impl ScriptedServer {
    async fn send(&mut self, frame: ServerFrame) {
        let bytes = Codec::Json.encode_server(&frame);
        let text = String::from_utf8(bytes.to_vec()).expect("JSON is UTF-8");
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .expect("server write");
    }

    /// The next frame the client wrote, skipping its heartbeat pings (they carry no id).
    async fn next_frame(&mut self) -> ClientFrame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the client wrote nothing")
                .expect("the client closed")
                .expect("server read");
            let bytes = match message {
                WsMessage::Text(text) => text.as_bytes().to_vec(),
                WsMessage::Binary(bytes) => bytes.to_vec(),
                _ => continue,
            };
            let frame = Codec::Json.decode_client(&bytes).expect("a client frame");
            if !matches!(frame, ClientFrame::Ping { id: None }) {
                return frame;
            }
        }
    }

    /// Answers the client's join of `room` with `msgs`, as a first join at `seq`.
    async fn answer_join(&mut self, room: &str, seq: u64, msgs: Vec<Message>) {
        let ClientFrame::Join {
            id, room: asked, ..
        } = self.next_frame().await
        else {
            panic!("expected a join");
        };
        assert_eq!(asked, room);
        self.send(ServerFrame::Joined {
            id,
            room: room.to_owned(),
            seq,
            online: 1,
            mode: DeliveryMode::Push,
            msgs,
            skipped: None,
            attrs: None,
        })
        .await;
    }

    /// Expects the next frame to be an app `ping` (the client wrote nothing before it)
    /// and answers it.
    async fn expect_ping(&mut self) {
        match self.next_frame().await {
            ClientFrame::Ping { id } => self.send(ServerFrame::Pong { id, ts: 1 }).await,
            other => panic!("expected the ping to come next, got {other:?}"),
        }
    }
}

/// The upgrade's answer: the JSON subprotocol, which the client offers.
#[allow(clippy::result_large_err)] // The callback's signature is tungstenite's.
fn choose_json(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    response.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(Codec::Json.subprotocol()),
    );
    Ok(response)
}

/// A client connected to a scripted server that has sent `hello`.
async fn connect() -> (Client, Events, ScriptedServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let accept = async {
        let (socket, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_hdr_async(socket, choose_json)
            .await
            .expect("upgrade");
        let mut server = ScriptedServer { ws };
        server
            .send(ServerFrame::Hello {
                conn_id: "c1".into(),
                user: "ann".into(),
                server_ts: 1_700_000_000_000,
                // Long enough that no heartbeat is due during a test.
                heartbeat_ms: 60_000,
                max_frame_bytes: 65_536,
            })
            .await;
        server
    };
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), "token");
    config.request_timeout = PATIENCE;
    config.reconnect = throng_client::ReconnectPolicy::never();
    let (connected, server) = tokio::join!(Client::connect(config), accept);
    let (client, events) = connected.expect("connect");
    (client, events, server)
}

/// Returns once the client handled every frame the server sent before: the pong of a
/// ping comes after them on the socket.
async fn sync(client: &Client, server: &mut ScriptedServer) {
    let pinging = tokio::spawn({
        let client = client.clone();
        async move { client.ping().await }
    });
    server.expect_ping().await;
    pinging.await.expect("task").expect("ping");
}

fn message(seq: u64, id: Option<&str>) -> Message {
    Message {
        seq,
        ts: 1_700_000_000_000 + seq,
        from: "@server".into(),
        kind: if id.is_some() { "gift" } else { "text" }.into(),
        priority: if id.is_some() {
            Priority::System
        } else {
            Priority::High
        },
        body: json!({"n": seq}),
        id: id.map(str::to_owned),
    }
}

fn batch(room: &str, msgs: Vec<Message>, upto: u64) -> ServerFrame {
    ServerFrame::Batch {
        room: room.to_owned(),
        msgs,
        skipped: None,
        upto: Some(upto),
    }
}

/// The seqs of the next `Event::Messages`.
async fn next_message_seqs(events: &mut Events) -> Vec<u64> {
    loop {
        let event = tokio::time::timeout(PATIENCE, events.next())
            .await
            .expect("no event")
            .expect("events ended");
        if let Event::Messages { msgs, .. } = event {
            return msgs.iter().map(|m| m.seq).collect();
        }
    }
}

fn ack(room: &str, seqs: &[u64]) -> ClientFrame {
    ClientFrame::Ack {
        room: room.to_owned(),
        seqs: seqs.to_vec(),
    }
}

#[tokio::test]
async fn reliable_messages_are_acknowledged_per_frame_and_shown_once() {
    let (client, mut events, mut server) = connect().await;
    let joining = tokio::spawn({
        let client = client.clone();
        async move { client.join("r1", DeliveryMode::Push).await }
    });
    // The join's history holds a reliable message: acknowledged right after the reply.
    server
        .answer_join("r1", 10, vec![message(9, Some("g0")), message(10, None)])
        .await;
    let joined = joining.await.expect("task").expect("join");
    assert_eq!(
        joined.msgs.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [9, 10]
    );
    assert_eq!(server.next_frame().await, ack("r1", &[9]));

    // A batch with two reliable messages and a plain one: one ack with both seqs.
    server
        .send(batch(
            "r1",
            vec![
                message(11, Some("g1")),
                message(12, None),
                message(13, Some("g2")),
            ],
            13,
        ))
        .await;
    assert_eq!(next_message_seqs(&mut events).await, [11, 12, 13]);
    assert_eq!(server.next_frame().await, ack("r1", &[11, 13]));

    // The server carries g1 again (as if the ack were lost), next to a new message: the
    // repeat is acknowledged again but not shown again.
    server
        .send(batch(
            "r1",
            vec![message(11, Some("g1")), message(14, None)],
            14,
        ))
        .await;
    assert_eq!(next_message_seqs(&mut events).await, [14]);
    assert_eq!(server.next_frame().await, ack("r1", &[11]));
    assert_eq!(client.resume_since("r1"), Some(14));
    assert_eq!(client.last_seq("r1"), Some(14));

    // A frame without reliable messages is not acknowledged.
    server.send(batch("r1", vec![message(15, None)], 15)).await;
    assert_eq!(next_message_seqs(&mut events).await, [15]);
    sync(&client, &mut server).await;
    client.close().await;
}

#[tokio::test]
async fn frames_of_rooms_not_joined_are_not_acknowledged() {
    let (client, _events, mut server) = connect().await;
    server
        .send(batch("elsewhere", vec![message(3, Some("g3"))], 3))
        .await;
    sync(&client, &mut server).await;
    client.close().await;
}

#[tokio::test]
async fn the_apps_pull_acknowledges_reliable_messages() {
    let (client, _events, mut server) = connect().await;
    let joining = tokio::spawn({
        let client = client.clone();
        async move { client.join("r1", DeliveryMode::Push).await }
    });
    server.answer_join("r1", 5, vec![]).await;
    joining.await.expect("task").expect("join");
    let pulling = tokio::spawn({
        let client = client.clone();
        async move { client.pull("r1", 0, None).await }
    });
    let ClientFrame::Pull { id, since: 0, .. } = server.next_frame().await else {
        panic!("expected a pull from 0");
    };
    server
        .send(ServerFrame::Pulled {
            id,
            room: "r1".into(),
            seq: 5,
            msgs: vec![message(4, Some("g4")), message(5, None)],
            skipped: None,
        })
        .await;
    let pulled = pulling.await.expect("task").expect("pull");
    assert_eq!(pulled.msgs.len(), 2, "the app's pull returns everything");
    assert_eq!(server.next_frame().await, ack("r1", &[4]));
    client.close().await;
}

#[tokio::test]
async fn sends_carry_reliable_and_msg_id_and_report_dropped() {
    let (client, _events, mut server) = connect().await;
    // (what the app calls, the frame's reliable and msg_id, the server's dropped)
    let cases: [(&str, bool, Option<&str>, bool); 3] = [
        ("reliable with id", true, Some("order-17:gift"), false),
        ("reliable, server picks the id", true, None, false),
        ("plain, dropped by the policy", false, None, true),
    ];
    for (name, reliable, msg_id, dropped) in cases {
        let sending = tokio::spawn({
            let client = client.clone();
            let msg_id = msg_id.map(str::to_owned);
            async move {
                let body = json!({"gift": "rocket"});
                if reliable {
                    client
                        .send_reliable("r1", "gift", body, msg_id.as_deref())
                        .await
                } else {
                    client.send("r1", "like", body).await
                }
            }
        });
        let ClientFrame::Send {
            id,
            reliable: sent_reliable,
            msg_id: sent_msg_id,
            priority,
            ..
        } = server.next_frame().await
        else {
            panic!("{name}: expected a send");
        };
        assert_eq!(sent_reliable, reliable, "{name}: reliable");
        assert_eq!(sent_msg_id.as_deref(), msg_id, "{name}: msg_id");
        assert_eq!(priority, None, "{name}: the lane is the server's choice");
        let seq = if dropped { 0 } else { 42 };
        server
            .send(ServerFrame::Sent {
                id,
                room: "r1".into(),
                seq,
                ts: 7,
                dropped,
            })
            .await;
        let sent = sending.await.expect("task").expect("send");
        assert_eq!((sent.seq, sent.dropped), (seq, dropped), "{name}");
    }

    // A full backlog is the server's typed refusal.
    let sending = tokio::spawn({
        let client = client.clone();
        async move { client.send_reliable("r1", "gift", json!({}), None).await }
    });
    let ClientFrame::Send { id, .. } = server.next_frame().await else {
        panic!("expected a send");
    };
    server
        .send(ServerFrame::Error {
            id,
            code: ErrorCode::BACKLOG_FULL,
            message: "too many reliable messages await acknowledgement".into(),
            room: Some("r1".into()),
        })
        .await;
    let refused = sending.await.expect("task");
    assert!(
        matches!(refused, Err(ClientError::Server { code, .. }) if code == ErrorCode::BACKLOG_FULL),
        "{refused:?}"
    );
    client.close().await;
}

/// Expects the next frame to be a like message of `room` with `count` taps; returns its id.
async fn expect_like(server: &mut ScriptedServer, room: &str, count: u32) -> Option<u32> {
    match server.next_frame().await {
        ClientFrame::Send {
            id,
            room: sent_room,
            kind,
            body,
            reliable: false,
            ..
        } => {
            assert_eq!((sent_room.as_str(), kind.as_str()), (room, "like"));
            assert_eq!(body, json!({"count": count}));
            id
        }
        other => panic!("expected a like message, got {other:?}"),
    }
}

#[tokio::test]
async fn likes_are_coalesced_while_one_is_in_flight_and_losses_are_counted() {
    let (client, mut events, mut server) = connect().await;
    assert_eq!(
        client.like("r1", 1),
        Err(ClientError::NotJoined { room: "r1".into() })
    );
    let joining = tokio::spawn({
        let client = client.clone();
        async move { client.join("r1", DeliveryMode::Push).await }
    });
    server.answer_join("r1", 1, vec![]).await;
    joining.await.expect("task").expect("join");

    // The first tap goes at once.
    client.like("r1", 1).expect("like");
    let first = expect_like(&mut server, "r1", 1).await;
    // Taps while it waits for its reply are summed, and nothing else goes out meanwhile.
    client.like("r1", 2).expect("like");
    client.like("r1", 3).expect("like");
    sync(&client, &mut server).await;
    let sent = |id, dropped| ServerFrame::Sent {
        id,
        room: "r1".into(),
        seq: if dropped { 0 } else { 2 },
        ts: 1,
        dropped,
    };
    server.send(sent(first, false)).await;
    // After the reply (and the room's interval) the sum goes as one message; the server
    // says the room's policy dropped it.
    let second = expect_like(&mut server, "r1", 5).await;
    assert_eq!(client.likes_lost(), 0, "the first like counted");
    server.send(sent(second, true)).await;
    sync(&client, &mut server).await;
    assert_eq!(client.likes_lost(), 5);

    // The taps of a like message the server refuses are lost too.
    client.like("r1", 4).expect("like");
    let third = expect_like(&mut server, "r1", 4).await;
    server
        .send(ServerFrame::Error {
            id: third,
            code: ErrorCode::RATE_LIMITED,
            message: "slow down".into(),
            room: Some("r1".into()),
        })
        .await;
    sync(&client, &mut server).await;
    assert_eq!(client.likes_lost(), 5 + 4);

    // A like message in flight when the connection goes is counted lost.
    client.like("r1", 6).expect("like");
    expect_like(&mut server, "r1", 6).await;
    drop(server);
    client.close().await;
    assert_eq!(client.likes_lost(), 5 + 4 + 6);
    assert_eq!(client.like("r1", 1), Err(ClientError::Closed));
    // Each loss was also an event, with its taps.
    let mut lost = Vec::new();
    while let Some(event) = events.next().await {
        if let Event::LikesLost { room, taps, .. } = event {
            lost.push((room, taps));
        }
    }
    let r1 = |taps| ("r1".to_owned(), taps);
    assert_eq!(lost, [r1(5), r1(4), r1(6)]);
}
