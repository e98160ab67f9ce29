//! NATS: the NATS text protocol over WebSocket, one subject per room.
//!
//! A subscriber reads the server's INFO, sends CONNECT, `SUB <room> 1` and PING, and
//! counts once the PONG comes back: the server handles a connection's commands in
//! order, so the PONG proves the SUB is in place. It answers the server's PINGs. A
//! publisher sends `PUB`. The protocol is a handful of text lines, written here.
//!
//! Quirk: nats-server closes WebSockets with status 1005 (no status code), which strict
//! clients report as an error; [`ws::next_message`] reads any close as the end.

use super::reassembly::{Framing, Reassembly};
use super::ws::{self, DrainedPublisher, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::Context;
use async_trait::async_trait;
use futures_util::SinkExt;
use memchr::memmem;
use std::net::{IpAddr, SocketAddr};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const DEFAULT_PORT: u16 = 9222;

/// The subscription id every subscriber uses for its one subscription.
const SUBSCRIPTION_ID: &str = "1";

/// The client's CONNECT: no +OK per command (`verbose` off), and no echo of a
/// publisher's own messages (publishers never subscribe anyway).
pub(crate) fn encode_connect(name: &str) -> String {
    let options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": false,
        "name": name,
    });
    format!("CONNECT {options}\r\n")
}

pub(crate) fn encode_subscribe(subject: &str, subscription_id: &str) -> String {
    format!("SUB {subject} {subscription_id}\r\n")
}

pub(crate) fn encode_publish(subject: &str, payload: &str) -> String {
    format!("PUB {subject} {}\r\n{payload}\r\n", payload.len())
}

pub(crate) const PING: &str = "PING\r\n";
pub(crate) const PONG: &str = "PONG\r\n";

/// A server operation, as far as a bench client cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Info,
    Msg {
        subject: &'a [u8],
        payload: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    Err {
        message: &'a [u8],
    },
}

pub(crate) struct NatsFraming;

/// The longest control line accepted before the stream is called broken (INFO lines
/// run to a few hundred bytes).
const MAX_CONTROL_LINE: usize = 64 * 1024;

impl Framing for NatsFraming {
    type Packet<'a> = Op<'a>;

    fn parse(bytes: &[u8]) -> anyhow::Result<Option<(Op<'_>, usize)>> {
        let Some(line_end) = memmem::find(bytes, b"\r\n") else {
            anyhow::ensure!(
                bytes.len() <= MAX_CONTROL_LINE,
                "NATS control line too long"
            );
            return Ok(None);
        };
        let line = &bytes[..line_end];
        let after_line = line_end + 2;
        let (verb, arguments) = match memchr::memchr(b' ', line) {
            Some(space) => (&line[..space], &line[space + 1..]),
            None => (line, &line[line.len()..]),
        };
        let op = match verb.to_ascii_uppercase().as_slice() {
            b"MSG" => {
                // MSG <subject> <sid> [reply-to] <#bytes>
                let fields: Vec<&[u8]> = arguments
                    .split(|&byte| byte == b' ')
                    .filter(|field| !field.is_empty())
                    .collect();
                anyhow::ensure!(
                    fields.len() == 3 || fields.len() == 4,
                    "malformed MSG line {:?}",
                    String::from_utf8_lossy(line)
                );
                let size: usize = std::str::from_utf8(fields[fields.len() - 1])?
                    .parse()
                    .context("MSG size")?;
                let payload_end = after_line + size;
                if bytes.len() < payload_end + 2 {
                    return Ok(None);
                }
                anyhow::ensure!(
                    &bytes[payload_end..payload_end + 2] == b"\r\n",
                    "MSG payload not followed by CRLF"
                );
                let op = Op::Msg {
                    subject: fields[0],
                    payload: &bytes[after_line..payload_end],
                };
                return Ok(Some((op, payload_end + 2)));
            }
            b"PING" => Op::Ping,
            b"PONG" => Op::Pong,
            b"+OK" => Op::Ok,
            b"-ERR" => Op::Err { message: arguments },
            b"INFO" => Op::Info,
            _ => anyhow::bail!(
                "unexpected NATS operation {:?}",
                String::from_utf8_lossy(line)
            ),
        };
        Ok(Some((op, after_line)))
    }
}

/// nats-server, as a [`Target`].
pub(crate) struct NatsTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl NatsTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> NatsTarget {
        NatsTarget { server, pid }
    }
}

/// Reads until `done` says the awaited op arrived, answering PINGs and failing on -ERR.
/// Payloads that arrive meanwhile go to `early`.
async fn read_until(
    websocket: &mut WsStream,
    reassembly: &mut Reassembly,
    early: &mut Vec<BenchPayload>,
    what: &str,
    mut done: impl FnMut(&Op<'_>) -> bool,
) -> anyhow::Result<()> {
    let mut finished = false;
    while !finished {
        let message = ws::next_message(websocket)
            .await?
            .with_context(|| format!("nats-server closed the connection before {what}"))?;
        let Some(frame) = ws::data_bytes(&message) else {
            continue;
        };
        let mut pings = 0;
        reassembly.feed::<NatsFraming>(frame, |op| {
            match &op {
                Op::Err { message } => {
                    anyhow::bail!("nats-server: -ERR {}", String::from_utf8_lossy(message))
                }
                Op::Ping => pings += 1,
                Op::Msg { payload, .. } => ws::scan_payloads(payload, early),
                _ => {}
            }
            finished |= done(&op);
            Ok(())
        })?;
        for _ in 0..pings {
            websocket.send(Message::text(PONG)).await?;
        }
    }
    Ok(())
}

impl NatsTarget {
    async fn connect(
        &self,
        source_ip: Option<IpAddr>,
        name: &str,
    ) -> anyhow::Result<(WsStream, Reassembly)> {
        let mut websocket = ws::connect(self.server, source_ip, "/", None).await?;
        let mut reassembly = Reassembly::default();
        let mut early = Vec::new();
        read_until(&mut websocket, &mut reassembly, &mut early, "INFO", |op| {
            matches!(op, Op::Info)
        })
        .await?;
        websocket.send(Message::text(encode_connect(name))).await?;
        Ok((websocket, reassembly))
    }
}

#[async_trait]
impl Target for NatsTarget {
    fn name(&self) -> &str {
        "nats"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        super::check_room_name(room)?;
        let (mut websocket, mut reassembly) = self
            .connect(Some(source_ip), &super::client_id("sub", member_idx))
            .await?;
        let commands = format!("{}{PING}", encode_subscribe(room, SUBSCRIPTION_ID));
        websocket.send(Message::text(commands)).await?;
        let mut early = Vec::new();
        read_until(&mut websocket, &mut reassembly, &mut early, "PONG", |op| {
            matches!(op, Op::Pong)
        })
        .await?;
        Ok(Box::new(NatsSubscriber {
            websocket,
            reassembly,
            early,
        }))
    }

    async fn publisher(&self, room: &str, sender_idx: usize) -> anyhow::Result<Box<dyn Publisher>> {
        super::check_room_name(room)?;
        let (websocket, _) = self
            .connect(None, &super::client_id("pub", sender_idx))
            .await?;
        // A publisher gets nothing but the server's keepalive PINGs, each small enough
        // to arrive whole in one frame.
        let connection = DrainedPublisher::spawn(websocket, |frame| {
            memmem::find(frame, PING.as_bytes()).map(|_| Message::text(PONG))
        });
        Ok(Box::new(NatsPublisher {
            connection,
            subject: room.to_owned(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct NatsSubscriber {
    websocket: WsStream,
    reassembly: Reassembly,
    early: Vec<BenchPayload>,
}

#[async_trait]
impl Subscriber for NatsSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let message = match ws::next_data(&mut self.websocket, &mut self.early, out).await? {
            ws::Read::Data(message) => message,
            ws::Read::Handled => return Ok(true),
            ws::Read::Closed => return Ok(false),
        };
        let frame = ws::data_bytes(&message).unwrap_or_default();
        let mut pings = 0;
        self.reassembly.feed::<NatsFraming>(frame, |op| {
            match op {
                Op::Msg { payload, .. } => ws::scan_payloads(payload, out),
                Op::Ping => pings += 1,
                Op::Err { message } => {
                    anyhow::bail!("nats-server: -ERR {}", String::from_utf8_lossy(message))
                }
                _ => {}
            }
            Ok(())
        })?;
        for _ in 0..pings {
            self.websocket.send(Message::text(PONG)).await?;
        }
        Ok(true)
    }
}

struct NatsPublisher {
    connection: DrainedPublisher,
    subject: String,
}

#[async_trait]
impl Publisher for NatsPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        self.connection
            .send(Message::text(encode_publish(&self.subject, payload)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_commands_are_nats_protocol_lines() {
        assert_eq!(encode_subscribe("bench-1", "1"), "SUB bench-1 1\r\n");
        assert_eq!(
            encode_publish("bench-1", "hello"),
            "PUB bench-1 5\r\nhello\r\n"
        );
        assert_eq!(encode_publish("r", ""), "PUB r 0\r\n\r\n");
        let connect = encode_connect("tb-sub-1");
        assert!(
            connect.starts_with("CONNECT {") && connect.ends_with("}\r\n"),
            "{connect}"
        );
        let options: serde_json::Value =
            serde_json::from_str(connect.trim_start_matches("CONNECT ").trim_end()).unwrap();
        assert_eq!(options["verbose"], false);
        assert_eq!(options["echo"], false);
        assert_eq!(options["name"], "tb-sub-1");
    }

    #[test]
    fn server_operations_parse_or_ask_for_more() {
        type Parsed<'a> = Option<(Op<'a>, usize)>;
        let cases: &[(&str, Parsed<'_>)] = &[
            ("", None),
            ("PI", None),
            ("PING\r", None),
            ("PING\r\n", Some((Op::Ping, 6))),
            ("ping\r\nPONG\r\n", Some((Op::Ping, 6))),
            ("PONG\r\n", Some((Op::Pong, 6))),
            ("+OK\r\n", Some((Op::Ok, 5))),
            (
                "-ERR 'Unknown Protocol Operation'\r\n",
                Some((
                    Op::Err {
                        message: b"'Unknown Protocol Operation'",
                    },
                    35,
                )),
            ),
            (
                "INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n",
                Some((Op::Info, 46)),
            ),
            (
                "MSG room 1 5\r\nhello\r\n",
                Some((
                    Op::Msg {
                        subject: b"room",
                        payload: b"hello",
                    },
                    21,
                )),
            ),
            (
                "MSG room 1 reply.to 5\r\nhello\r\n",
                Some((
                    Op::Msg {
                        subject: b"room",
                        payload: b"hello",
                    },
                    30,
                )),
            ),
            (
                "MSG room  1   5\r\nhello\r\n",
                Some((
                    Op::Msg {
                        subject: b"room",
                        payload: b"hello",
                    },
                    24,
                )),
            ),
            // The size, not a CRLF search, ends the payload.
            (
                "MSG r 1 4\r\na\r\nb\r\n",
                Some((
                    Op::Msg {
                        subject: b"r",
                        payload: b"a\r\nb",
                    },
                    17,
                )),
            ),
            (
                "MSG r 1 0\r\n\r\n",
                Some((
                    Op::Msg {
                        subject: b"r",
                        payload: b"",
                    },
                    13,
                )),
            ),
            ("MSG room 1 5\r\nhel", None),
            ("MSG room 1 5\r\nhello", None),
            ("MSG room 1 5\r\nhello\r", None),
        ];
        for (bytes, expect) in cases {
            assert_eq!(
                &NatsFraming::parse(bytes.as_bytes()).unwrap(),
                expect,
                "bytes {bytes:?}"
            );
        }
    }

    #[test]
    fn malformed_operations_are_errors() {
        for bytes in [
            "MSG room 5\r\nhello\r\n",
            "MSG a b c d e\r\n",
            "MSG room 1 five\r\nhello\r\n",
            "MSG room 1 5\r\nhelloXX",
            "WHAT\r\n",
        ] {
            assert!(
                NatsFraming::parse(bytes.as_bytes()).is_err(),
                "bytes {bytes:?}"
            );
        }
        let endless_line = vec![b'I'; MAX_CONTROL_LINE + 1];
        assert!(NatsFraming::parse(&endless_line).is_err());
    }

    #[test]
    fn a_stream_split_anywhere_yields_the_same_operations() {
        let stream = "INFO {}\r\nPING\r\nMSG bench 1 12\r\ntb1|1|2|3|1|\r\nMSG bench 1 2\r\nok\r\n";
        for split in 0..=stream.len() {
            let mut reassembly = Reassembly::default();
            let mut seen = Vec::new();
            for frame in [&stream[..split], &stream[split..]] {
                reassembly
                    .feed::<NatsFraming>(frame.as_bytes(), |op| {
                        seen.push(match op {
                            Op::Msg { payload, .. } => String::from_utf8(payload.to_vec())?,
                            other => format!("{other:?}"),
                        });
                        Ok(())
                    })
                    .unwrap();
            }
            assert_eq!(
                seen,
                ["Info", "Ping", "tb1|1|2|3|1|", "ok"],
                "split at {split}"
            );
        }
    }
}
