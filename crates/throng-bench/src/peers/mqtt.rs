//! Mosquitto: MQTT 3.1.1 over WebSocket (subprotocol `mqtt`), one topic per room.
//!
//! A subscriber sends CONNECT (clean session, keepalive 0 so the broker expects no
//! PINGREQ), then SUBSCRIBE to the room's topic at QoS 0, and counts once SUBACK grants
//! it. A publisher sends PUBLISH at QoS 0. Only the five packets this needs are written
//! here, by hand: the crate manifest is not this module's to change, and parsing borrows
//! the PUBLISH payload straight from the frame for the payload scan.

use super::reassembly::{Framing, Reassembly};
use super::ws::{self, DrainedPublisher, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::Context;
use async_trait::async_trait;
use futures_util::SinkExt;
use std::net::{IpAddr, SocketAddr};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const DEFAULT_PORT: u16 = 9001;

/// Control packet types (the high nibble of the first byte).
const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const SUBSCRIBE: u8 = 8;
const SUBACK: u8 = 9;
const PINGRESP: u8 = 13;

/// A SUBACK return code refusing the subscription.
const SUBACK_FAILURE: u8 = 0x80;

/// The largest value the four-byte remaining-length field holds.
const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Appends MQTT's variable-length "remaining length" field.
pub(crate) fn encode_remaining_length(mut length: usize, out: &mut Vec<u8>) {
    assert!(length <= MAX_REMAINING_LENGTH, "MQTT packet too long");
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if length == 0 {
            return;
        }
    }
}

/// Reads a remaining-length field: Ok(None) when the bytes end inside it, else the
/// value and the field's own size.
pub(crate) fn decode_remaining_length(bytes: &[u8]) -> anyhow::Result<Option<(usize, usize)>> {
    let mut value = 0usize;
    for (index, &byte) in bytes.iter().enumerate().take(4) {
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((value, index + 1)));
        }
    }
    if bytes.len() >= 4 {
        anyhow::bail!("MQTT remaining length longer than four bytes");
    }
    Ok(None)
}

fn push_string(text: &str, out: &mut Vec<u8>) {
    let length = u16::try_from(text.len()).expect("MQTT strings are at most 65535 bytes");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn packet(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first_byte);
    encode_remaining_length(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// CONNECT, MQTT 3.1.1, clean session, no keepalive, no will, no credentials.
pub(crate) fn encode_connect(client_id: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + client_id.len());
    push_string("MQTT", &mut body);
    body.push(4); // protocol level 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&0u16.to_be_bytes()); // keepalive off
    push_string(client_id, &mut body);
    packet(CONNECT << 4, &body)
}

/// SUBSCRIBE to one topic filter at QoS 0.
pub(crate) fn encode_subscribe(packet_id: u16, topic: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + topic.len());
    body.extend_from_slice(&packet_id.to_be_bytes());
    push_string(topic, &mut body);
    body.push(0); // requested QoS
    packet((SUBSCRIBE << 4) | 0x02, &body) // the flags MQTT fixes for SUBSCRIBE
}

/// PUBLISH at QoS 0 (no packet id), not retained.
pub(crate) fn encode_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + topic.len() + payload.len());
    push_string(topic, &mut body);
    body.extend_from_slice(payload);
    packet(PUBLISH << 4, &body)
}

/// An incoming packet, as far as a bench client cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    ConnAck {
        return_code: u8,
    },
    SubAck {
        packet_id: u16,
        granted_qos: u8,
    },
    Publish {
        topic: &'a [u8],
        payload: &'a [u8],
    },
    PingResp,
    /// Any other packet type, skipped.
    Other {
        packet_type: u8,
    },
}

pub(crate) struct MqttFraming;

impl Framing for MqttFraming {
    type Packet<'a> = Packet<'a>;

    fn parse(bytes: &[u8]) -> anyhow::Result<Option<(Packet<'_>, usize)>> {
        let Some(&first_byte) = bytes.first() else {
            return Ok(None);
        };
        let Some((length, length_size)) = decode_remaining_length(&bytes[1..])? else {
            return Ok(None);
        };
        let body_start = 1 + length_size;
        let Some(body) = bytes.get(body_start..body_start + length) else {
            return Ok(None);
        };
        let packet_type = first_byte >> 4;
        let packet = match packet_type {
            CONNACK => {
                anyhow::ensure!(body.len() == 2, "CONNACK of {} bytes", body.len());
                Packet::ConnAck {
                    return_code: body[1],
                }
            }
            SUBACK => {
                anyhow::ensure!(body.len() >= 3, "SUBACK of {} bytes", body.len());
                Packet::SubAck {
                    packet_id: u16::from_be_bytes([body[0], body[1]]),
                    granted_qos: body[2],
                }
            }
            PUBLISH => {
                anyhow::ensure!(body.len() >= 2, "PUBLISH of {} bytes", body.len());
                let topic_length = usize::from(u16::from_be_bytes([body[0], body[1]]));
                let topic = body
                    .get(2..2 + topic_length)
                    .context("PUBLISH topic runs past the packet")?;
                let qos = (first_byte >> 1) & 0x03;
                // QoS 1 and 2 carry a packet id after the topic.
                let payload_start = 2 + topic_length + if qos > 0 { 2 } else { 0 };
                let payload = body
                    .get(payload_start..)
                    .context("PUBLISH packet id runs past the packet")?;
                Packet::Publish { topic, payload }
            }
            PINGRESP => Packet::PingResp,
            _ => Packet::Other { packet_type },
        };
        Ok(Some((packet, body_start + length)))
    }
}

/// Mosquitto, as a [`Target`].
pub(crate) struct MosquittoTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl MosquittoTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> MosquittoTarget {
        MosquittoTarget { server, pid }
    }

    async fn connect(
        &self,
        source_ip: Option<IpAddr>,
        client_id: &str,
    ) -> anyhow::Result<(WsStream, Reassembly)> {
        let mut websocket = ws::connect(self.server, source_ip, "/", Some("mqtt")).await?;
        websocket
            .send(Message::binary(encode_connect(client_id)))
            .await?;
        let mut reassembly = Reassembly::default();
        let mut return_code = None;
        while return_code.is_none() {
            let message = ws::next_message(&mut websocket)
                .await?
                .context("mosquitto closed the connection before CONNACK")?;
            let Some(frame) = ws::data_bytes(&message) else {
                continue;
            };
            reassembly.feed::<MqttFraming>(frame, |packet| {
                if let Packet::ConnAck { return_code: code } = packet {
                    return_code = Some(code);
                }
                Ok(())
            })?;
        }
        anyhow::ensure!(
            return_code == Some(0),
            "mosquitto refused CONNECT: return code {return_code:?}"
        );
        Ok((websocket, reassembly))
    }
}

#[async_trait]
impl Target for MosquittoTarget {
    fn name(&self) -> &str {
        "mosquitto"
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
        const SUBSCRIBE_ID: u16 = 1;
        websocket
            .send(Message::binary(encode_subscribe(SUBSCRIBE_ID, room)))
            .await?;
        // Payloads published between SUBACK and the first next() arrive in the same
        // frames; keep them for the first call rather than lose them.
        let mut early = Vec::new();
        let mut granted = None;
        while granted.is_none() {
            let message = ws::next_message(&mut websocket)
                .await?
                .context("mosquitto closed the connection before SUBACK")?;
            let Some(frame) = ws::data_bytes(&message) else {
                continue;
            };
            reassembly.feed::<MqttFraming>(frame, |packet| {
                match packet {
                    Packet::SubAck {
                        packet_id: SUBSCRIBE_ID,
                        granted_qos,
                    } => granted = Some(granted_qos),
                    Packet::Publish { payload, .. } => ws::scan_payloads(payload, &mut early),
                    _ => {}
                }
                Ok(())
            })?;
        }
        anyhow::ensure!(
            granted != Some(SUBACK_FAILURE),
            "mosquitto refused the subscription to {room:?}"
        );
        Ok(Box::new(MqttSubscriber {
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
        // Not subscribed: the broker sends it nothing the drain has to answer.
        let connection = DrainedPublisher::spawn(websocket, |_| None);
        Ok(Box::new(MqttPublisher {
            connection,
            topic: room.to_owned(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct MqttSubscriber {
    websocket: WsStream,
    reassembly: Reassembly,
    early: Vec<BenchPayload>,
}

#[async_trait]
impl Subscriber for MqttSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let message = match ws::next_data(&mut self.websocket, &mut self.early, out).await? {
            ws::Read::Data(message) => message,
            ws::Read::Handled => return Ok(true),
            ws::Read::Closed => return Ok(false),
        };
        let frame = ws::data_bytes(&message).unwrap_or_default();
        self.reassembly.feed::<MqttFraming>(frame, |packet| {
            if let Packet::Publish { payload, .. } = packet {
                ws::scan_payloads(payload, out);
            }
            Ok(())
        })?;
        Ok(true)
    }
}

struct MqttPublisher {
    connection: DrainedPublisher,
    topic: String,
}

#[async_trait]
impl Publisher for MqttPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let packet = encode_publish(&self.topic, payload.as_bytes());
        self.connection.send(Message::binary(packet)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_round_trips_at_every_size_boundary() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for &(length, encoded) in cases {
            let mut out = Vec::new();
            encode_remaining_length(length, &mut out);
            assert_eq!(out, encoded, "encoding {length}");
            assert_eq!(
                decode_remaining_length(encoded).unwrap(),
                Some((length, encoded.len())),
                "decoding {length}"
            );
            // Every strict prefix asks for more bytes.
            for cut in 0..encoded.len() {
                assert_eq!(decode_remaining_length(&encoded[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn remaining_length_longer_than_four_bytes_is_an_error() {
        assert!(decode_remaining_length(&[0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(decode_remaining_length(&[0x80, 0x80, 0x80, 0x80]).is_err());
    }

    #[test]
    fn outgoing_packets_have_the_exact_bytes_of_mqtt_3_1_1() {
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (
                encode_connect("c1"),
                vec![
                    0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 2, b'c', b'1',
                ],
            ),
            (
                encode_connect(""),
                vec![0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0],
            ),
            (encode_subscribe(1, "r"), vec![0x82, 6, 0, 1, 0, 1, b'r', 0]),
            (
                encode_subscribe(0x1234, "ab"),
                vec![0x82, 7, 0x12, 0x34, 0, 2, b'a', b'b', 0],
            ),
            (
                encode_publish("r", b"hi"),
                vec![0x30, 5, 0, 1, b'r', b'h', b'i'],
            ),
            (encode_publish("r", b""), vec![0x30, 3, 0, 1, b'r']),
        ];
        for (encoded, expect) in cases {
            assert_eq!(encoded, expect);
        }
    }

    fn parse(bytes: &[u8]) -> anyhow::Result<Option<(Packet<'_>, usize)>> {
        MqttFraming::parse(bytes)
    }

    #[test]
    fn incoming_packets_parse_or_ask_for_more() {
        type Parsed<'a> = Option<(Packet<'a>, usize)>;
        let cases: &[(&[u8], Parsed<'_>)] = &[
            (&[], None),
            (&[0x20], None),
            (&[0x20, 0x02, 0x00], None),
            (
                &[0x20, 0x02, 0x00, 0x00],
                Some((Packet::ConnAck { return_code: 0 }, 4)),
            ),
            (
                &[0x20, 0x02, 0x01, 0x05, 0xff],
                Some((Packet::ConnAck { return_code: 5 }, 4)),
            ),
            (
                &[0x90, 0x03, 0x00, 0x01, 0x00],
                Some((
                    Packet::SubAck {
                        packet_id: 1,
                        granted_qos: 0,
                    },
                    5,
                )),
            ),
            (
                &[0x90, 0x03, 0x01, 0x02, 0x80],
                Some((
                    Packet::SubAck {
                        packet_id: 0x0102,
                        granted_qos: 0x80,
                    },
                    5,
                )),
            ),
            (
                &[0x30, 0x05, 0x00, 0x01, b'r', b'h', b'i'],
                Some((
                    Packet::Publish {
                        topic: b"r",
                        payload: b"hi",
                    },
                    7,
                )),
            ),
            // QoS 1: a packet id sits between topic and payload.
            (
                &[0x32, 0x07, 0x00, 0x01, b'r', 0x00, 0x09, b'h', b'i'],
                Some((
                    Packet::Publish {
                        topic: b"r",
                        payload: b"hi",
                    },
                    9,
                )),
            ),
            // Retained flag and DUP do not change the layout at QoS 0.
            (
                &[0x31, 0x03, 0x00, 0x01, b'r'],
                Some((
                    Packet::Publish {
                        topic: b"r",
                        payload: b"",
                    },
                    5,
                )),
            ),
            (&[0xd0, 0x00], Some((Packet::PingResp, 2))),
            (
                &[0xb0, 0x02, 0x00, 0x01],
                Some((Packet::Other { packet_type: 11 }, 4)),
            ),
            (&[0x30, 0x05, 0x00, 0x01, b'r', b'h'], None),
        ];
        for (bytes, expect) in cases {
            assert_eq!(&parse(bytes).unwrap(), expect, "bytes {bytes:02x?}");
        }
    }

    #[test]
    fn malformed_packets_are_errors() {
        let cases: &[&[u8]] = &[
            &[0x20, 0x03, 0x00, 0x00, 0x00],
            &[0x90, 0x02, 0x00, 0x01],
            &[0x30, 0x01, 0x00],
            &[0x30, 0x03, 0x00, 0x05, b'r'],
            &[0x32, 0x03, 0x00, 0x01, b'r'],
            &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
        ];
        for bytes in cases {
            assert!(parse(bytes).is_err(), "bytes {bytes:02x?}");
        }
    }

    #[test]
    fn publish_round_trips_through_split_frames() {
        for payload_size in [0, 1, 100, 127, 128, 4096, 20_000] {
            let payload = vec![b'.'; payload_size];
            let stream = [
                encode_publish("room-1", &payload),
                encode_publish("room-1", b"x"),
            ]
            .concat();
            for split in [1, 2, 3, stream.len() / 2, stream.len() - 1] {
                let mut reassembly = Reassembly::default();
                let mut seen = Vec::new();
                for frame in [&stream[..split], &stream[split..]] {
                    reassembly
                        .feed::<MqttFraming>(frame, |packet| {
                            if let Packet::Publish { topic, payload } = packet {
                                seen.push((topic.to_vec(), payload.len()));
                            }
                            Ok(())
                        })
                        .unwrap();
                }
                assert_eq!(
                    seen,
                    vec![(b"room-1".to_vec(), payload_size), (b"room-1".to_vec(), 1)],
                    "payload {payload_size} split at {split}"
                );
            }
        }
    }
}
