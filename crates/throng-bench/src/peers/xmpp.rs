//! ejabberd: XMPP group chat (MUC) over WebSocket (RFC 7395, subprotocol `xmpp`).
//!
//! Every connection is an anonymous user (SASL ANONYMOUS, then resource binding) on the
//! `localhost` host of `bench/peers/ejabberd/ejabberd.yml.in`. A subscriber joins
//! `<room>@conference.localhost` under a nickname of its own and counts once the room
//! echoes its own presence (status code 110). A publisher joins the same way and sends
//! `groupchat` messages. RFC 7395 puts exactly one stanza in each WebSocket frame, so
//! frames are told apart by their first element name; nothing is XML-parsed on the hot
//! path.

use super::ws::{self, DrainedPublisher, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::Context;
use async_trait::async_trait;
use futures_util::SinkExt;
use memchr::memmem;
use std::net::{IpAddr, SocketAddr};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const DEFAULT_PORT: u16 = 5280;

/// The virtual host and MUC service the ejabberd config defines.
const DOMAIN: &str = "localhost";
const MUC_SERVICE: &str = "conference.localhost";
const WEBSOCKET_PATH: &str = "/ws";
const BIND_ID: &str = "bind";

pub(crate) fn encode_open(domain: &str) -> String {
    format!(r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{domain}" version="1.0"/>"#)
}

pub(crate) const AUTH_ANONYMOUS: &str =
    r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>"#;

pub(crate) fn encode_bind(id: &str) -> String {
    format!(r#"<iq type="set" id="{id}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#)
}

/// Joins a room asking for no history: the bench counts only live messages.
pub(crate) fn encode_join(room: &str, nick: &str) -> String {
    format!(
        r#"<presence to="{room}@{MUC_SERVICE}/{nick}"><x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>"#,
        nick = escape_text(nick),
    )
}

pub(crate) fn encode_groupchat(room: &str, body: &str) -> String {
    format!(
        r#"<message to="{room}@{MUC_SERVICE}" type="groupchat"><body>{}</body></message>"#,
        escape_text(body)
    )
}

/// Escapes text for element content or a double-quoted attribute. Bench payloads never
/// need it (ASCII digits, bars and dots), but a message must stay well-formed XML.
pub(crate) fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            other => escaped.push(other),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// The name of a frame's top-level element (`message`, `presence`, `stream:features`…).
pub(crate) fn element_name(frame: &[u8]) -> &[u8] {
    let start = frame
        .iter()
        .position(|&byte| byte == b'<')
        .map_or(frame.len(), |at| at + 1);
    let rest = &frame[start..];
    let end = rest
        .iter()
        .position(|&byte| matches!(byte, b' ' | b'>' | b'/' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Whether the frame holds `name='value'` or `name="value"` anywhere.
pub(crate) fn has_attribute(frame: &[u8], name: &str, value: &str) -> bool {
    [format!("{name}='{value}'"), format!("{name}=\"{value}\"")]
        .iter()
        .any(|needle| memmem::find(frame, needle.as_bytes()).is_some())
}

/// A stanza or stream element, as far as a bench client cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stanza {
    Message,
    /// A presence; `self_presence` when it carries status 110 (the room speaking of the
    /// receiver itself), `error` when it is of type error.
    Presence {
        self_presence: bool,
        error: bool,
    },
    Iq {
        result: bool,
    },
    Features,
    SaslSuccess,
    SaslFailure,
    StreamOpen,
    StreamClose,
    StreamError,
    Other,
}

pub(crate) fn classify(frame: &[u8]) -> Stanza {
    match element_name(frame) {
        b"message" => Stanza::Message,
        b"presence" => Stanza::Presence {
            self_presence: has_attribute(frame, "code", "110"),
            error: has_attribute(frame, "type", "error"),
        },
        b"iq" => Stanza::Iq {
            result: has_attribute(frame, "type", "result"),
        },
        b"stream:features" | b"features" => Stanza::Features,
        b"success" => Stanza::SaslSuccess,
        b"failure" => Stanza::SaslFailure,
        b"open" => Stanza::StreamOpen,
        b"close" => Stanza::StreamClose,
        b"stream:error" | b"error" => Stanza::StreamError,
        _ => Stanza::Other,
    }
}

/// ejabberd, as a [`Target`].
pub(crate) struct EjabberdTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl EjabberdTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> EjabberdTarget {
        EjabberdTarget { server, pid }
    }

    /// Logs in anonymously, binds a resource and joins `room`; returns once the room
    /// echoed the join. Room messages that arrive meanwhile go to `early`.
    async fn join(
        &self,
        source_ip: Option<IpAddr>,
        room: &str,
        nick: &str,
        early: &mut Vec<BenchPayload>,
    ) -> anyhow::Result<WsStream> {
        let mut websocket =
            ws::connect(self.server, source_ip, WEBSOCKET_PATH, Some("xmpp")).await?;
        websocket.send(Message::text(encode_open(DOMAIN))).await?;
        expect(&mut websocket, early, "stream features", |stanza| {
            stanza == &Stanza::Features
        })
        .await?;
        websocket.send(Message::text(AUTH_ANONYMOUS)).await?;
        expect(&mut websocket, early, "SASL success", |stanza| {
            stanza == &Stanza::SaslSuccess
        })
        .await?;
        // SASL success restarts the stream.
        websocket.send(Message::text(encode_open(DOMAIN))).await?;
        expect(&mut websocket, early, "stream features", |stanza| {
            stanza == &Stanza::Features
        })
        .await?;
        websocket.send(Message::text(encode_bind(BIND_ID))).await?;
        expect(&mut websocket, early, "the bind result", |stanza| {
            stanza == &Stanza::Iq { result: true }
        })
        .await?;
        websocket
            .send(Message::text(encode_join(room, nick)))
            .await?;
        expect(
            &mut websocket,
            early,
            "the room's echo of the join",
            |stanza| {
                matches!(
                    stanza,
                    Stanza::Presence {
                        self_presence: true,
                        error: false
                    }
                )
            },
        )
        .await?;
        Ok(websocket)
    }
}

/// Reads stanzas until `done` accepts one; fails on a refusal (SASL failure, an error
/// presence or iq, a stream error or close).
async fn expect(
    websocket: &mut WsStream,
    early: &mut Vec<BenchPayload>,
    what: &str,
    done: impl Fn(&Stanza) -> bool,
) -> anyhow::Result<()> {
    loop {
        let message = ws::next_message(websocket)
            .await?
            .with_context(|| format!("ejabberd closed the connection before {what}"))?;
        let Some(frame) = ws::data_bytes(&message) else {
            continue;
        };
        let stanza = classify(frame);
        if done(&stanza) {
            return Ok(());
        }
        match stanza {
            Stanza::Message => ws::scan_payloads(frame, early),
            Stanza::SaslFailure
            | Stanza::StreamError
            | Stanza::StreamClose
            | Stanza::Presence { error: true, .. }
            | Stanza::Iq { result: false } => {
                anyhow::bail!(
                    "ejabberd refused while waiting for {what}: {}",
                    String::from_utf8_lossy(frame)
                )
            }
            _ => {}
        }
    }
}

#[async_trait]
impl Target for EjabberdTarget {
    fn name(&self) -> &str {
        "ejabberd"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        super::check_room_name(room)?;
        let mut early = Vec::new();
        let nick = super::client_id("sub", member_idx);
        let websocket = self.join(Some(source_ip), room, &nick, &mut early).await?;
        Ok(Box::new(XmppSubscriber { websocket, early }))
    }

    async fn publisher(&self, room: &str, sender_idx: usize) -> anyhow::Result<Box<dyn Publisher>> {
        super::check_room_name(room)?;
        let nick = super::client_id("pub", sender_idx);
        let websocket = self.join(None, room, &nick, &mut Vec::new()).await?;
        // An occupant receives the whole room, its own messages included: the drain
        // reads them so ejabberd never queues for the publisher. ejabberd's keepalives are
        // WebSocket pings, which tungstenite answers by itself.
        let connection = DrainedPublisher::spawn(websocket, |_| None);
        Ok(Box::new(XmppPublisher {
            connection,
            room: room.to_owned(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct XmppSubscriber {
    websocket: WsStream,
    early: Vec<BenchPayload>,
}

#[async_trait]
impl Subscriber for XmppSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let message = match ws::next_data(&mut self.websocket, &mut self.early, out).await? {
            ws::Read::Data(message) => message,
            ws::Read::Handled => return Ok(true),
            ws::Read::Closed => return Ok(false),
        };
        let frame = ws::data_bytes(&message).unwrap_or_default();
        match classify(frame) {
            Stanza::Message => ws::scan_payloads(frame, out),
            Stanza::StreamClose | Stanza::StreamError => return Ok(false),
            _ => {}
        }
        Ok(true)
    }
}

struct XmppPublisher {
    connection: DrainedPublisher,
    room: String,
}

#[async_trait]
impl Publisher for XmppPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        self.connection
            .send(Message::text(encode_groupchat(&self.room, payload)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_classify_by_their_top_level_element() {
        let cases: &[(&str, Stanza)] = &[
            (
                "<message xmlns='jabber:client' type='groupchat'><body>tb1|1|2|3|1|</body></message>",
                Stanza::Message,
            ),
            (
                "<presence from='r@conference.localhost/me'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence>",
                Stanza::Presence { self_presence: true, error: false },
            ),
            (
                r#"<presence from="r@conference.localhost/other"><x/></presence>"#,
                Stanza::Presence { self_presence: false, error: false },
            ),
            (
                "<presence type='error'><error type='cancel'><service-unavailable/></error></presence>",
                Stanza::Presence { self_presence: false, error: true },
            ),
            ("<iq xmlns='jabber:client' type='result' id='bind'><bind/></iq>", Stanza::Iq { result: true }),
            ("<iq type='error' id='bind'/>", Stanza::Iq { result: false }),
            ("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms/></stream:features>", Stanza::Features),
            ("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", Stanza::SaslSuccess),
            ("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>", Stanza::SaslFailure),
            ("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' version='1.0'/>", Stanza::StreamOpen),
            ("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", Stanza::StreamClose),
            ("<stream:error><conflict/></stream:error>", Stanza::StreamError),
            ("  <message>", Stanza::Message),
            ("", Stanza::Other),
            ("<r xmlns='urn:xmpp:sm:3'/>", Stanza::Other),
        ];
        for (frame, expect) in cases {
            assert_eq!(&classify(frame.as_bytes()), expect, "frame {frame:?}");
        }
    }

    #[test]
    fn outgoing_stanzas_are_the_expected_xml() {
        let cases: Vec<(String, &str)> = vec![
            (
                encode_open("localhost"),
                r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>"#,
            ),
            (
                encode_bind("bind"),
                r#"<iq type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#,
            ),
            (
                encode_join("bench-1", "tb-sub-7"),
                r#"<presence to="bench-1@conference.localhost/tb-sub-7"><x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>"#,
            ),
            (
                encode_groupchat("bench-1", "tb1|1|2|3|1|..."),
                r#"<message to="bench-1@conference.localhost" type="groupchat"><body>tb1|1|2|3|1|...</body></message>"#,
            ),
            (
                encode_groupchat("r", "a<b & \"c\">"),
                r#"<message to="r@conference.localhost" type="groupchat"><body>a&lt;b &amp; &quot;c&quot;&gt;</body></message>"#,
            ),
        ];
        for (encoded, expect) in cases {
            assert_eq!(encoded, expect);
        }
    }

    #[test]
    fn payloads_are_found_inside_a_groupchat_message() {
        let payload = BenchPayload {
            sender: 3,
            seq: 41,
            sent_at_us: 1_700_000_000_000_000,
            lane: 1,
        };
        let frame = format!(
            "<message xmlns='jabber:client' from='r@conference.localhost/tb-pub-0' type='groupchat'><body>{}</body></message>",
            payload.encode(100)
        );
        let mut found = Vec::new();
        ws::scan_payloads(frame.as_bytes(), &mut found);
        assert_eq!(found, vec![payload]);
    }
}
