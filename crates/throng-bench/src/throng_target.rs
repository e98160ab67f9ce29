//! Throng itself as a [`Target`]: raw WebSocket subscribers and publishers (not the SDK,
//! so the load generator stays cheap and its buffers are sized on purpose), rooms created
//! through the HTTP server API.
//!
//! Publishing: `high` and `low` lane messages go up as `send` frames over WebSocket, one
//! user per publisher (the server limits each user to `limits.user_rate_per_sec`, 20 by
//! default, so the scenarios spread a rate over enough publishers). System-lane messages
//! (gifts) go through the HTTP API as the app's backend would send them, which no user
//! limit applies to; without an API key they go over WebSocket with the `system` role.
//! Publishers join in notify mode with the `system` role: they get at most one small
//! `notify` every two seconds instead of every batch, and are never dropped for not
//! pulling.

use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use throng_protocol::{ClientFrame, Codec, DeliveryMode, Priority, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// Default read buffer of each benchmark socket: small enough that 18k of them cost
/// little (tungstenite's default is 128 KiB each, zero-filled on the first read).
pub const DEFAULT_READ_BUFFER_BYTES: usize = 4096;

/// How long a handshake, a join or a publish acknowledgement may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Tokens the load generator mints live this long: longer than any run.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// How the load generator gets tokens for the server under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ThrongAuth {
    /// Mint HS256 tokens with this secret, one user per connection.
    Secret(String),
    /// Use this token for every connection (one user: publishers share its rate limit).
    Token(String),
}

/// Everything needed to drive a Throng server; serialisable so that worker processes
/// build the same target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThrongSpec {
    /// `http://host:port` of the server.
    pub url: String,
    pub auth: ThrongAuth,
    /// Key for the HTTP server API (room creation, system messages).
    pub api_key: Option<String>,
    pub server_pid: Option<u32>,
    /// `json` or `msgpack`.
    pub msgpack: bool,
    /// Distinguishes this run's users from other runs' in the server's logs.
    pub run_tag: String,
    /// WebSocket read buffer per subscriber (bigger: fewer reads per batch frame).
    #[serde(default = "default_read_buffer")]
    pub read_buffer_bytes: usize,
}

fn default_read_buffer() -> usize {
    DEFAULT_READ_BUFFER_BYTES
}

pub struct ThrongTarget {
    spec: ThrongSpec,
    address: SocketAddr,
    ws_url: String,
    codec: Codec,
    http: reqwest::Client,
}

impl ThrongTarget {
    pub async fn new(spec: ThrongSpec) -> anyhow::Result<ThrongTarget> {
        let authority = spec
            .url
            .strip_prefix("http://")
            .ok_or_else(|| {
                anyhow!(
                    "server URL {:?} must start with http:// (no TLS in benchmarks)",
                    spec.url
                )
            })?
            .trim_end_matches('/');
        let address = tokio::net::lookup_host(authority)
            .await
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to no address"))?;
        let ws_url = format!("ws://{authority}{}", throng_protocol::WS_PATH);
        let codec = if spec.msgpack {
            Codec::MsgPack
        } else {
            Codec::Json
        };
        Ok(ThrongTarget {
            address,
            ws_url,
            codec,
            http: reqwest::Client::new(),
            spec,
        })
    }

    fn token(&self, user: &str, roles: &[String]) -> anyhow::Result<String> {
        match &self.spec.auth {
            ThrongAuth::Secret(secret) => {
                Ok(throng_auth::mint_hs256(secret, user, TOKEN_TTL, roles)?)
            }
            ThrongAuth::Token(token) => Ok(token.clone()),
        }
    }

    /// Creates `rooms` through the server API so that they accept `rate_per_sec` and give
    /// no history on join (a fresh room would anyway; this also holds for reused names).
    /// Without an API key the server's auto-creation on first join is relied on.
    pub async fn create_rooms(&self, rooms: &[String], rate_per_sec: u32) -> anyhow::Result<()> {
        let Some(api_key) = &self.spec.api_key else {
            return Ok(());
        };
        let settings = serde_json::json!({ "rate_per_sec": rate_per_sec, "recent_on_join": 0 });
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(rooms)
            .map(|room| {
                let body = serde_json::json!({ "id": room, "settings": settings });
                let request = self
                    .http
                    .post(format!("{}/v1/rooms", self.spec.url))
                    .bearer_auth(api_key)
                    .json(&body);
                async move {
                    let response = request.send().await?;
                    let status = response.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    let text = response.text().await.unwrap_or_default();
                    if status.as_u16() == 409 {
                        return Ok(());
                    }
                    bail!("creating room {room:?}: HTTP {status}: {text}")
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Deletes the run's rooms (best effort, at the end of a run).
    pub async fn delete_rooms(&self, rooms: &[String]) {
        let Some(api_key) = &self.spec.api_key else {
            return;
        };
        futures_util::stream::iter(rooms)
            .for_each_concurrent(16, |room| async move {
                let _ = self
                    .http
                    .delete(format!("{}/v1/rooms/{room}", self.spec.url))
                    .bearer_auth(api_key)
                    .send()
                    .await;
            })
            .await;
    }

    async fn connect(
        &self,
        source_ip: Option<IpAddr>,
        user: &str,
        roles: &[String],
    ) -> anyhow::Result<Connection> {
        let token = self.token(user, roles)?;
        let socket = if self.address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source_ip {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("cannot bind source address {ip}"))?;
        }
        let stream = socket
            .connect(self.address)
            .await
            .with_context(|| format!("cannot connect to {}", self.address))?;
        stream.set_nodelay(true)?;
        let mut request = format!("{}?token={token}", self.ws_url).into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(self.codec.subprotocol()),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(self.spec.read_buffer_bytes.max(256))
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .context("WebSocket handshake")?;
        let mut connection = Connection {
            ws,
            codec: self.codec,
            heartbeat: Duration::from_secs(10),
        };
        match connection.next_frame().await? {
            ServerFrame::Hello { heartbeat_ms, .. } => {
                connection.heartbeat = Duration::from_millis(u64::from(heartbeat_ms.max(1000)));
            }
            other => bail!("expected hello, got {other:?}"),
        }
        Ok(connection)
    }
}

/// One open WebSocket with the codec it negotiated.
struct Connection {
    ws: WebSocketStream<TcpStream>,
    codec: Codec,
    heartbeat: Duration,
}

impl Connection {
    async fn send(&mut self, frame: &ClientFrame) -> anyhow::Result<()> {
        self.ws.send(ws_message(self.codec, frame)?).await?;
        Ok(())
    }

    /// The next decoded frame (for the few frames outside the hot path).
    async fn next_frame(&mut self) -> anyhow::Result<ServerFrame> {
        let next = tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        return Ok(Codec::Json.decode_server(text.as_bytes())?)
                    }
                    Some(Ok(WsMessage::Binary(bytes))) => {
                        return Ok(Codec::MsgPack.decode_server(&bytes)?)
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        bail!("server closed the connection: {frame:?}")
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                    None => bail!("connection ended"),
                }
            }
        });
        next.await
            .map_err(|_| anyhow!("no frame from the server in {REQUEST_TIMEOUT:?}"))?
    }

    /// Sends `join` and waits for its `joined`.
    async fn join(&mut self, room: &str, mode: DeliveryMode) -> anyhow::Result<()> {
        self.send(&ClientFrame::Join {
            id: Some(1),
            room: room.to_owned(),
            since: None,
            mode,
        })
        .await?;
        loop {
            match self.next_frame().await? {
                ServerFrame::Joined { id: Some(1), .. } => return Ok(()),
                ServerFrame::Error { code, message, .. } => {
                    bail!("join refused: {code}: {message}")
                }
                _ => continue,
            }
        }
    }
}

#[async_trait]
impl Target for ThrongTarget {
    fn name(&self) -> &str {
        "throng"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        let user = format!("bench-{}-m{member_idx}", self.spec.run_tag);
        let mut connection = self.connect(Some(source_ip), &user, &[]).await?;
        connection.join(room, DeliveryMode::Push).await?;
        let ping_every = connection.heartbeat / 2;
        Ok(Box::new(ThrongSubscriber {
            room: room.to_owned(),
            codec: connection.codec,
            next_ping: Instant::now() + ping_every,
            ping_every,
            ping: ws_message(connection.codec, &ClientFrame::Ping { id: None })?,
            ws: connection.ws,
        }))
    }

    async fn publisher(&self, room: &str, sender_idx: usize) -> anyhow::Result<Box<dyn Publisher>> {
        let user = format!("bench-{}-p{sender_idx}", self.spec.run_tag);
        let roles = vec!["system".to_owned()];
        let mut connection = self.connect(None, &user, &roles).await?;
        connection.join(room, DeliveryMode::Notify).await?;
        Ok(Box::new(ThrongPublisher {
            last_sent: Instant::now(),
            connection,
            room: room.to_owned(),
            next_id: 2,
            http: self.http.clone(),
            messages_url: format!("{}/v1/rooms/{room}/messages", self.spec.url),
            api_key: self.spec.api_key.clone(),
            run_tag: self.spec.run_tag.clone(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.spec.server_pid
    }
}

/// A joined member: reads frames raw, scans them for payloads, acknowledges reliable
/// messages (as the SDKs do), pings on time.
struct ThrongSubscriber {
    room: String,
    codec: Codec,
    ws: WebSocketStream<TcpStream>,
    ping: WsMessage,
    ping_every: Duration,
    next_ping: Instant,
}

#[async_trait]
impl Subscriber for ThrongSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        loop {
            tokio::select! {
                message = self.ws.next() => {
                    return match message {
                        Some(Ok(WsMessage::Text(text))) => {
                            BenchPayload::find_all(text.as_bytes(), out);
                            self.ack(text.as_bytes()).await?;
                            Ok(true)
                        }
                        Some(Ok(WsMessage::Binary(bytes))) => {
                            BenchPayload::find_all(&bytes, out);
                            self.ack(&bytes).await?;
                            Ok(true)
                        }
                        Some(Ok(WsMessage::Close(_))) | None => Ok(false),
                        Some(Ok(_)) => Ok(true),
                        Some(Err(e)) => Err(e.into()),
                    };
                }
                _ = tokio::time::sleep_until(self.next_ping) => {
                    self.next_ping += self.ping_every;
                    self.ws.send(self.ping.clone()).await?;
                }
            }
        }
    }
}

impl ThrongSubscriber {
    /// Acknowledges the reliable messages of a frame, if it has any. Only frames that
    /// carry one (a few per second: gifts) are looked at beyond a byte scan.
    async fn ack(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        let seqs = reliable_seqs(self.codec, frame);
        if seqs.is_empty() {
            return Ok(());
        }
        let ack = ClientFrame::Ack {
            room: self.room.clone(),
            seqs,
        };
        self.ws.send(ws_message(self.codec, &ack)?).await?;
        Ok(())
    }
}

/// A client frame as a WebSocket message: text for JSON, binary for MessagePack.
fn ws_message(codec: Codec, frame: &ClientFrame) -> anyhow::Result<WsMessage> {
    let bytes = codec.encode_client(frame);
    Ok(if codec.is_binary() {
        WsMessage::Binary(bytes)
    } else {
        WsMessage::Text(
            bytes
                .try_into()
                .map_err(|_| anyhow!("JSON frame is not UTF-8"))?,
        )
    })
}

/// The seqs of the reliable messages (those with an `id`) in a `batch` or `joined`
/// frame. JSON frames are scanned (a message is `{"seq":N,...,"id":"..."}`, with `seq`
/// first and `id` last); MessagePack frames that mention an `id` key are decoded.
fn reliable_seqs(codec: Codec, frame: &[u8]) -> Vec<u64> {
    const ID_KEY: &[u8] = b",\"id\":\"";
    const SEQ_KEY: &[u8] = b"{\"seq\":";
    match codec {
        Codec::Json => {
            let mut seqs = Vec::new();
            let mut from = 0;
            while let Some(at) = find(&frame[from..], ID_KEY).map(|i| i + from) {
                if let Some(start) = rfind(&frame[..at], SEQ_KEY) {
                    let digits = &frame[start + SEQ_KEY.len()..];
                    let end = digits
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(digits.len());
                    if let Some(seq) = std::str::from_utf8(&digits[..end])
                        .ok()
                        .and_then(|d| d.parse().ok())
                    {
                        seqs.push(seq);
                    }
                }
                from = at + ID_KEY.len();
            }
            seqs
        }
        Codec::MsgPack => {
            // "id" as a MessagePack fixstr key.
            if find(frame, b"\xa2id").is_none() {
                return Vec::new();
            }
            match codec.decode_server(frame) {
                Ok(ServerFrame::Batch { msgs, .. } | ServerFrame::Joined { msgs, .. }) => msgs
                    .iter()
                    .filter(|m| m.id.is_some())
                    .map(|m| m.seq)
                    .collect(),
                _ => Vec::new(),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

struct ThrongPublisher {
    run_tag: String,
    connection: Connection,
    room: String,
    next_id: u32,
    last_sent: Instant,
    http: reqwest::Client,
    messages_url: String,
    api_key: Option<String>,
}

impl ThrongPublisher {
    /// Publishes a gift through the server API, as the app's backend would: a reliable
    /// message whose id names the payload, so a retried request is not a second gift.
    async fn publish_http(&self, api_key: &str, payload: &str) -> anyhow::Result<()> {
        let msg_id = match BenchPayload::parse(payload.as_bytes()) {
            Some(p) => format!("{}-{}-{}", self.run_tag, p.sender, p.seq),
            None => bail!("not a bench payload: {payload:?}"),
        };
        let body = serde_json::json!({
            "kind": "gift",
            "body": payload,
            "priority": "system",
            "reliable": true,
            "msg_id": msg_id,
        });
        let response = self
            .http
            .post(&self.messages_url)
            .bearer_auth(api_key)
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        bail!(
            "HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        )
    }

    async fn publish_ws(&mut self, priority: Priority, payload: &str) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(2);
        let frame = ClientFrame::Send {
            id: Some(id),
            room: self.room.clone(),
            kind: if priority == Priority::System {
                "gift"
            } else {
                "text"
            }
            .to_owned(),
            body: serde_json::Value::String(payload.to_owned()),
            priority: Some(priority),
            msg_id: None,
            reliable: false,
        };
        self.connection.send(&frame).await?;
        self.last_sent = Instant::now();
        loop {
            match self.connection.next_frame().await? {
                ServerFrame::Sent { id: Some(got), .. } if got == id => return Ok(()),
                ServerFrame::Error {
                    id: Some(got),
                    code,
                    message,
                    ..
                } if got == id => {
                    bail!("{code}: {message}")
                }
                _ => continue,
            }
        }
    }
}

#[async_trait]
impl Publisher for ThrongPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let lane = BenchPayload::parse(payload.as_bytes()).map_or(1, |p| p.lane);
        // Keep the WebSocket alive when this publisher only posts over HTTP for a while.
        if self.last_sent.elapsed() > self.connection.heartbeat / 2 {
            self.connection
                .send(&ClientFrame::Ping { id: None })
                .await?;
            self.last_sent = Instant::now();
        }
        match (lane, self.api_key.clone()) {
            (0, Some(api_key)) => self.publish_http(&api_key, payload).await,
            (0, None) => self.publish_ws(Priority::System, payload).await,
            (2, _) => self.publish_ws(Priority::Low, payload).await,
            _ => self.publish_ws(Priority::High, payload).await,
        }
    }
}

#[cfg(test)]
mod reliable_tests {
    use super::*;
    use throng_protocol::{Message, Skipped};

    fn frame(codec: Codec, ids: &[Option<&str>]) -> Vec<u8> {
        let msgs: Vec<Message> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Message {
                seq: 1_000 + i as u64,
                ts: 1,
                from: "@server".into(),
                kind: "gift".into(),
                priority: Priority::System,
                body: serde_json::json!("tb1|1|2|3|0|... \"id\":\"x\""),
                id: id.map(str::to_owned),
            })
            .collect();
        let encoded: Vec<throng_protocol::EncodedMessage> = msgs
            .into_iter()
            .map(throng_protocol::EncodedMessage::new)
            .collect();
        throng_protocol::codec::encode_batch(codec, "r", encoded.iter(), Skipped::default(), 9)
            .to_vec()
    }

    #[test]
    fn reliable_seqs_are_found_in_both_codecs() {
        let cases: [(&[Option<&str>], Vec<u64>); 3] = [
            (&[None, None], vec![]),
            (&[Some("a"), None, Some("b-1")], vec![1_000, 1_002]),
            (&[None, Some("z")], vec![1_001]),
        ];
        for codec in Codec::ALL {
            for (ids, expected) in &cases {
                assert_eq!(
                    reliable_seqs(codec, &frame(codec, ids)),
                    *expected,
                    "{codec:?} {ids:?}"
                );
            }
        }
    }
}
