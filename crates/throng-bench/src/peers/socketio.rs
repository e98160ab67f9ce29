//! Socket.IO 4: Engine.IO 4 over WebSocket only, talking to `bench/peers/socketio/server.js`.
//!
//! A subscriber waits for Engine.IO's open packet, connects to the default namespace,
//! emits `join(room)` with an ack id and counts once the ack comes back. Broadcasts
//! arrive as `42["m","<payload>"]`, one per frame. The server pings every 25 s; the
//! client must answer `3` or be dropped. A publisher emits `publish(room, payload)`,
//! which the server sends to the room.
//!
//! Engine.IO and Socket.IO packets are short text prefixes before a JSON array, written
//! here: there is no maintained Rust Socket.IO client that works over a caller's socket.

use super::ws::{self, DrainedPublisher, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::Context;
use async_trait::async_trait;
use futures_util::SinkExt;
use std::net::{IpAddr, SocketAddr};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const DEFAULT_PORT: u16 = 3001;

const HANDSHAKE_PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Engine.IO packet types (the first character of a frame).
const EIO_OPEN: u8 = b'0';
const EIO_CLOSE: u8 = b'1';
const EIO_PING: u8 = b'2';
const EIO_PONG: &str = "3";
const EIO_MESSAGE: u8 = b'4';

/// Socket.IO packet types (the character after Engine.IO's `4`).
const SIO_CONNECT: u8 = b'0';
const SIO_DISCONNECT: u8 = b'1';
const SIO_EVENT: u8 = b'2';
const SIO_ACK: u8 = b'3';
const SIO_CONNECT_ERROR: u8 = b'4';

/// Connect to the default namespace.
const CONNECT_DEFAULT_NAMESPACE: &str = "40";

/// An event in the default namespace, `42[<name>, <args>…]`, with `42<id>[…]` when the
/// sender wants an ack.
pub(crate) fn encode_event(name: &str, arguments: &[&str], ack_id: Option<u64>) -> String {
    let mut array = Vec::with_capacity(1 + arguments.len());
    array.push(name);
    array.extend_from_slice(arguments);
    let json = serde_json::to_string(&array).expect("strings always serialize");
    match ack_id {
        Some(ack_id) => format!("42{ack_id}{json}"),
        None => format!("42{json}"),
    }
}

/// A frame from the server, as far as a bench client cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    Open,
    Close,
    Ping,
    Connected,
    ConnectError {
        detail: &'a [u8],
    },
    Disconnected,
    /// An event; its arguments (a JSON array) hold any payload.
    Event {
        body: &'a [u8],
    },
    Ack {
        ack_id: u64,
    },
    /// Engine.IO types a WebSocket-only client never needs (pong, upgrade, noop), or a
    /// Socket.IO type it never asked for (binary events).
    Other,
}

pub(crate) fn parse(frame: &[u8]) -> anyhow::Result<Packet<'_>> {
    let Some((&engine_type, rest)) = frame.split_first() else {
        anyhow::bail!("empty Engine.IO frame");
    };
    Ok(match engine_type {
        EIO_OPEN => Packet::Open,
        EIO_CLOSE => Packet::Close,
        EIO_PING => Packet::Ping,
        EIO_MESSAGE => {
            let Some((&socket_type, rest)) = rest.split_first() else {
                anyhow::bail!("Engine.IO message without a Socket.IO packet");
            };
            match socket_type {
                SIO_CONNECT => Packet::Connected,
                SIO_CONNECT_ERROR => Packet::ConnectError { detail: rest },
                SIO_DISCONNECT => Packet::Disconnected,
                SIO_EVENT => Packet::Event { body: rest },
                SIO_ACK => {
                    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
                    anyhow::ensure!(digits > 0, "Socket.IO ack without an id");
                    let ack_id = std::str::from_utf8(&rest[..digits])?
                        .parse()
                        .context("ack id")?;
                    Packet::Ack { ack_id }
                }
                _ => Packet::Other,
            }
        }
        b'3' | b'5' | b'6' => Packet::Other,
        _ => anyhow::bail!(
            "unknown Engine.IO packet type {:?}",
            char::from(engine_type)
        ),
    })
}

/// The Socket.IO peer, as a [`Target`].
pub(crate) struct SocketIoTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl SocketIoTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> SocketIoTarget {
        SocketIoTarget { server, pid }
    }

    /// Opens a connection joined to the default namespace.
    async fn connect(&self, source_ip: Option<IpAddr>) -> anyhow::Result<WsStream> {
        let mut websocket = ws::connect(self.server, source_ip, HANDSHAKE_PATH, None).await?;
        read_until(
            &mut websocket,
            &mut Vec::new(),
            "the open packet",
            |packet| matches!(packet, Packet::Open),
        )
        .await?;
        websocket
            .send(Message::text(CONNECT_DEFAULT_NAMESPACE))
            .await?;
        read_until(
            &mut websocket,
            &mut Vec::new(),
            "the namespace connect",
            |packet| matches!(packet, Packet::Connected),
        )
        .await?;
        Ok(websocket)
    }
}

/// Reads frames until `done` accepts one, answering pings; payloads of events that
/// arrive meanwhile go to `early`.
async fn read_until(
    websocket: &mut WsStream,
    early: &mut Vec<BenchPayload>,
    what: &str,
    mut done: impl FnMut(&Packet<'_>) -> bool,
) -> anyhow::Result<()> {
    loop {
        let message = ws::next_message(websocket)
            .await?
            .with_context(|| format!("the Socket.IO server closed the connection before {what}"))?;
        let Some(frame) = ws::data_bytes(&message) else {
            continue;
        };
        let packet = parse(frame)?;
        match &packet {
            Packet::Ping => websocket.send(Message::text(EIO_PONG)).await?,
            Packet::Event { body } => ws::scan_payloads(body, early),
            Packet::ConnectError { detail } => {
                anyhow::bail!(
                    "Socket.IO connect error: {}",
                    String::from_utf8_lossy(detail)
                )
            }
            Packet::Close | Packet::Disconnected => {
                anyhow::bail!("the Socket.IO server disconnected the client before {what}")
            }
            _ => {}
        }
        if done(&packet) {
            return Ok(());
        }
    }
}

#[async_trait]
impl Target for SocketIoTarget {
    fn name(&self) -> &str {
        "socketio"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        _member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        super::check_room_name(room)?;
        const JOIN_ACK_ID: u64 = 0;
        let mut websocket = self.connect(Some(source_ip)).await?;
        websocket
            .send(Message::text(encode_event(
                "join",
                &[room],
                Some(JOIN_ACK_ID),
            )))
            .await?;
        let mut early = Vec::new();
        read_until(&mut websocket, &mut early, "the join ack", |packet| {
            matches!(
                packet,
                Packet::Ack {
                    ack_id: JOIN_ACK_ID
                }
            )
        })
        .await?;
        Ok(Box::new(SocketIoSubscriber { websocket, early }))
    }

    async fn publisher(
        &self,
        room: &str,
        _sender_idx: usize,
    ) -> anyhow::Result<Box<dyn Publisher>> {
        super::check_room_name(room)?;
        let websocket = self.connect(None).await?;
        let connection = DrainedPublisher::spawn(websocket, |frame| {
            (frame.first() == Some(&EIO_PING)).then(|| Message::text(EIO_PONG))
        });
        Ok(Box::new(SocketIoPublisher {
            connection,
            room: room.to_owned(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct SocketIoSubscriber {
    websocket: WsStream,
    early: Vec<BenchPayload>,
}

#[async_trait]
impl Subscriber for SocketIoSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let message = match ws::next_data(&mut self.websocket, &mut self.early, out).await? {
            ws::Read::Data(message) => message,
            ws::Read::Handled => return Ok(true),
            ws::Read::Closed => return Ok(false),
        };
        let frame = ws::data_bytes(&message).unwrap_or_default();
        // The hot path: a broadcast event. Scan it without a full parse.
        if frame.starts_with(b"42") {
            ws::scan_payloads(&frame[2..], out);
            return Ok(true);
        }
        match parse(frame)? {
            Packet::Ping => self.websocket.send(Message::text(EIO_PONG)).await?,
            Packet::Close | Packet::Disconnected => return Ok(false),
            _ => {}
        }
        Ok(true)
    }
}

struct SocketIoPublisher {
    connection: DrainedPublisher,
    room: String,
}

#[async_trait]
impl Publisher for SocketIoPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let event = encode_event("publish", &[&self.room, payload], None);
        self.connection.send(Message::text(event)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_as_socket_io_text_packets() {
        let cases: &[(&str, &[&str], Option<u64>, &str)] = &[
            ("join", &["bench-1"], Some(0), r#"420["join","bench-1"]"#),
            ("join", &["r"], Some(17), r#"4217["join","r"]"#),
            (
                "publish",
                &["r", "tb1|1|2|3|1|.."],
                None,
                r#"42["publish","r","tb1|1|2|3|1|.."]"#,
            ),
            (
                "publish",
                &["r", "say \"hi\"\n"],
                None,
                r#"42["publish","r","say \"hi\"\n"]"#,
            ),
            ("ping", &[], None, r#"42["ping"]"#),
        ];
        for &(name, arguments, ack_id, expect) in cases {
            assert_eq!(encode_event(name, arguments, ack_id), expect);
        }
    }

    #[test]
    fn server_frames_parse_to_packets() {
        let cases: &[(&str, Packet<'_>)] = &[
            (
                r#"0{"sid":"x","upgrades":[],"pingInterval":25000}"#,
                Packet::Open,
            ),
            ("1", Packet::Close),
            ("2", Packet::Ping),
            ("3", Packet::Other),
            ("6", Packet::Other),
            (r#"40{"sid":"abc"}"#, Packet::Connected),
            ("41", Packet::Disconnected),
            (
                r#"44{"message":"nope"}"#,
                Packet::ConnectError {
                    detail: br#"{"message":"nope"}"#,
                },
            ),
            (
                r#"42["m","tb1|1|2|3|1|"]"#,
                Packet::Event {
                    body: br#"["m","tb1|1|2|3|1|"]"#,
                },
            ),
            (r#"430["ok"]"#, Packet::Ack { ack_id: 0 }),
            (r#"4317["ok"]"#, Packet::Ack { ack_id: 17 }),
            (r#"45-["bin"]"#, Packet::Other),
        ];
        for (frame, expect) in cases {
            assert_eq!(&parse(frame.as_bytes()).unwrap(), expect, "frame {frame:?}");
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        for frame in ["", "4", r#"43["ok"]"#, "9", "x"] {
            assert!(parse(frame.as_bytes()).is_err(), "frame {frame:?}");
        }
    }
}
