//! JSON and MessagePack encodings of the same frames.
//!
//! JSON frames travel as WebSocket text messages, MessagePack frames as binary messages.
//! MessagePack uses maps with field names (not arrays), so both encodings share one
//! schema and a field added later is ignored by older readers.

use crate::frames::{ClientFrame, Message, ServerFrame, Skipped};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write as _;

/// A negotiated encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    #[default]
    Json,
    MsgPack,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Json, Codec::MsgPack];

    /// The WebSocket subprotocol that selects this codec. A client that offers none gets
    /// JSON.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => "throng.v1.json",
            Codec::MsgPack => "throng.v1.msgpack",
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.subprotocol() == name)
    }

    /// Position in [`Codec::ALL`], for per-codec arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether frames travel as binary (else text) WebSocket messages.
    pub fn is_binary(self) -> bool {
        matches!(self, Codec::MsgPack)
    }

    pub fn encode<T: Serialize>(self, value: &T) -> Bytes {
        // Serialising our own frame types cannot fail: every map key is a string and no
        // type has a custom serializer that errors.
        match self {
            Codec::Json => serde_json::to_vec(value)
                .expect("frames serialise to JSON")
                .into(),
            Codec::MsgPack => rmp_serde::to_vec_named(value)
                .expect("frames serialise to MessagePack")
                .into(),
        }
    }

    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, DecodeError> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string())),
            Codec::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| DecodeError(e.to_string())),
        }
    }

    pub fn encode_server(self, frame: &ServerFrame) -> Bytes {
        self.encode(frame)
    }

    pub fn decode_client(self, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
        self.decode(bytes)
    }

    pub fn encode_client(self, frame: &ClientFrame) -> Bytes {
        self.encode(frame)
    }

    pub fn decode_server(self, bytes: &[u8]) -> Result<ServerFrame, DecodeError> {
        self.decode(bytes)
    }
}

/// A frame that could not be decoded; the text says why and is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed frame: {0}")]
pub struct DecodeError(pub String);

/// One message encoded once in every codec, ready to be spliced into `batch` frames.
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    pub message: Message,
    encoded: [Bytes; 2],
}

impl EncodedMessage {
    pub fn new(message: Message) -> EncodedMessage {
        let encoded = Codec::ALL.map(|codec| codec.encode(&message));
        EncodedMessage { message, encoded }
    }

    pub fn bytes(&self, codec: Codec) -> &Bytes {
        &self.encoded[codec.index()]
    }
}

/// Builds a `batch` frame from pre-encoded messages without re-encoding them. The result
/// decodes to the same [`ServerFrame::Batch`] as encoding it with serde would.
pub fn encode_batch<'a>(
    codec: Codec,
    room: &str,
    msgs: impl ExactSizeIterator<Item = &'a EncodedMessage>,
    skipped: Skipped,
    upto: u64,
) -> Bytes {
    let mut out = Vec::with_capacity(64 + msgs.len() * 128);
    match codec {
        Codec::Json => {
            out.extend_from_slice(br#"{"type":"batch","room":"#);
            serde_json::to_writer(&mut out, room).expect("string serialises");
            out.extend_from_slice(br#","msgs":["#);
            for (i, m) in msgs.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(m.bytes(codec));
            }
            out.push(b']');
            if !skipped.is_empty() {
                out.extend_from_slice(br#","skipped":"#);
                serde_json::to_writer(&mut out, &skipped).expect("skipped serialises");
            }
            write!(out, r#","upto":{upto}}}"#).expect("vec write");
        }
        Codec::MsgPack => {
            // Writes into a Vec cannot fail.
            let n_fields = if skipped.is_empty() { 4 } else { 5 };
            rmp::encode::write_map_len(&mut out, n_fields).expect("vec write");
            rmp::encode::write_str(&mut out, "type").expect("vec write");
            rmp::encode::write_str(&mut out, "batch").expect("vec write");
            rmp::encode::write_str(&mut out, "room").expect("vec write");
            rmp::encode::write_str(&mut out, room).expect("vec write");
            rmp::encode::write_str(&mut out, "msgs").expect("vec write");
            rmp::encode::write_array_len(&mut out, msgs.len() as u32).expect("vec write");
            for m in msgs {
                out.extend_from_slice(m.bytes(codec));
            }
            if !skipped.is_empty() {
                rmp::encode::write_str(&mut out, "skipped").expect("vec write");
                out.extend_from_slice(&rmp_serde::to_vec_named(&skipped).expect("vec write"));
            }
            rmp::encode::write_str(&mut out, "upto").expect("vec write");
            rmp::encode::write_uint(&mut out, upto).expect("vec write");
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{DeliveryMode, Priority};
    use crate::ErrorCode;
    use serde_json::json;

    fn message(seq: u64, priority: Priority) -> Message {
        Message {
            seq,
            ts: 1_700_000_000_000 + seq,
            from: format!("user-{seq}"),
            kind: "text".into(),
            priority,
            body: json!({"text": "hé \"quoted\"", "n": seq}),
            id: None,
        }
    }

    #[test]
    fn spliced_batch_decodes_like_a_serde_batch() {
        let msgs: Vec<EncodedMessage> = (1..=3)
            .map(|s| EncodedMessage::new(message(s, Priority::ALL[s as usize % 3])))
            .collect();
        let cases = [
            Skipped::default(),
            Skipped {
                system: 0,
                high: 2,
                low: 7,
            },
        ];
        for codec in Codec::ALL {
            for skipped in cases {
                for n in [0, 1, 3] {
                    let bytes = encode_batch(
                        codec,
                        "room \"1\"",
                        msgs[..n].iter(),
                        skipped,
                        40 + n as u64,
                    );
                    let decoded = codec.decode_server(&bytes).unwrap();
                    let expect = ServerFrame::Batch {
                        room: "room \"1\"".into(),
                        msgs: msgs[..n].iter().map(|m| m.message.clone()).collect(),
                        skipped: skipped.non_empty(),
                        upto: Some(40 + n as u64),
                    };
                    assert_eq!(decoded, expect, "{codec:?} n={n} skipped={skipped:?}");
                }
            }
        }
    }

    #[test]
    fn client_frames_round_trip_in_both_codecs() {
        let frames = [
            ClientFrame::Join {
                id: Some(1),
                room: "r".into(),
                since: Some(9),
                mode: DeliveryMode::Notify,
            },
            ClientFrame::Join {
                id: None,
                room: "r".into(),
                since: None,
                mode: DeliveryMode::Push,
            },
            ClientFrame::Leave {
                id: Some(2),
                room: "r".into(),
            },
            ClientFrame::Send {
                id: Some(3),
                room: "r".into(),
                kind: "like".into(),
                body: json!({"n": 1}),
                priority: Some(Priority::Low),
                msg_id: None,
                reliable: false,
            },
            ClientFrame::Pull {
                id: None,
                room: "r".into(),
                since: 0,
                limit: Some(10),
            },
            ClientFrame::Ping { id: Some(4) },
        ];
        for codec in Codec::ALL {
            for frame in &frames {
                let bytes = codec.encode_client(frame);
                assert_eq!(&codec.decode_client(&bytes).unwrap(), frame, "{codec:?}");
            }
        }
    }

    #[test]
    fn json_defaults_fill_missing_optional_fields() {
        let frame = Codec::Json
            .decode_client(br#"{"type":"send","room":"lobby","body":"hi"}"#)
            .unwrap();
        assert_eq!(
            frame,
            ClientFrame::Send {
                id: None,
                room: "lobby".into(),
                kind: "text".into(),
                body: json!("hi"),
                priority: None,
                msg_id: None,
                reliable: false,
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let cases: [&[u8]; 6] = [
            b"",
            b"not json",
            br#"{"type":"join"}"#,
            br#"{"type":"teleport","room":"x"}"#,
            br#"{"room":"x"}"#,
            br#"{"type":"pull","room":"x","since":-1}"#,
        ];
        for bytes in cases {
            assert!(
                Codec::Json.decode_client(bytes).is_err(),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert!(Codec::MsgPack.decode_client(&[0xc1]).is_err());
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Error {
                id: Some(7),
                code: ErrorCode::NOT_JOINED,
                message: "join first".into(),
                room: Some("r".into()),
            },
            ServerFrame::Notify {
                room: "r".into(),
                seq: 12,
            },
            ServerFrame::Joined {
                id: None,
                room: "r".into(),
                seq: 3,
                online: 2,
                mode: DeliveryMode::Push,
                msgs: vec![message(3, Priority::High)],
                skipped: None,
                attrs: Some(crate::attrs::Snapshot {
                    version: 2,
                    entries: [(
                        "seat:1".to_owned(),
                        crate::attrs::Entry {
                            value: json!({"user": "ann"}),
                            version: 2,
                            by: Some("ann".into()),
                            ts: 5,
                        },
                    )]
                    .into(),
                }),
            },
            ServerFrame::Attrs {
                id: Some(3),
                room: "r".into(),
                changes: Some(vec![crate::attrs::Change {
                    version: 3,
                    key: "seat:1".into(),
                    value: None,
                    deleted: true,
                    by: None,
                    ts: 6,
                }]),
                snapshot: None,
            },
        ];
        for codec in Codec::ALL {
            for frame in &frames {
                assert_eq!(
                    &codec.decode_server(&codec.encode_server(frame)).unwrap(),
                    frame
                );
            }
        }
        let json = String::from_utf8(Codec::Json.encode_server(&frames[0]).to_vec()).unwrap();
        assert_eq!(
            json,
            r#"{"type":"error","id":7,"code":202,"message":"join first","room":"r"}"#
        );
    }

    #[test]
    fn subprotocols_select_codecs() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_subprotocol(codec.subprotocol()), Some(codec));
        }
        assert_eq!(Codec::from_subprotocol("mqtt"), None);
    }
}
