//! Sockudo: the Pusher Channels protocol (version 7) over WebSocket, with the HTTP
//! events API for publishing (`bench/peers/sockudo/config.toml.in`).
//!
//! A subscriber connects to `/app/<key>`, waits for `pusher:connection_established`,
//! sends `pusher:subscribe` for the room's public channel and counts once
//! `pusher_internal:subscription_succeeded` arrives. Each event comes as one JSON frame
//! whose `data` string is the payload. The server pings idle connections with
//! `pusher:ping` and wants `pusher:pong`. A publisher POSTs signed events to
//! `/apps/<app id>/events`, as an application backend does.

use super::pusher_signing::signed_post_query;
use super::ws::{self, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use anyhow::Context;
use async_trait::async_trait;
use futures_util::SinkExt;
use memchr::memmem;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

pub(crate) const DEFAULT_PORT: u16 = 6001;

/// The one app `bench/peers/sockudo/config.toml.in` defines.
pub(crate) const APP_ID: &str = "throng-bench";
pub(crate) const APP_KEY: &str = "throng-bench-key";
pub(crate) const APP_SECRET: &str = "throng-bench-secret";

/// The event name every bench message is published under.
const EVENT_NAME: &str = "m";

const CONNECTION_ESTABLISHED: &str = "pusher:connection_established";
const SUBSCRIPTION_SUCCEEDED: &str = "pusher_internal:subscription_succeeded";
const PING: &str = "pusher:ping";
const ERROR: &str = "pusher:error";

pub(crate) fn connect_path(app_key: &str) -> String {
    format!(
        "/app/{app_key}?protocol=7&client=throng-bench&version={}",
        env!("CARGO_PKG_VERSION")
    )
}

pub(crate) fn encode_subscribe(channel: &str) -> String {
    serde_json::json!({"event": "pusher:subscribe", "data": {"channel": channel}}).to_string()
}

pub(crate) fn encode_pong() -> String {
    serde_json::json!({"event": "pusher:pong", "data": {}}).to_string()
}

/// The body of `POST /apps/<id>/events`.
pub(crate) fn encode_event_body(channel: &str, payload: &str) -> String {
    serde_json::json!({"name": EVENT_NAME, "channel": channel, "data": payload}).to_string()
}

/// Whether a frame is the event `name`, without decoding it: Sockudo writes
/// `"event":"<name>"` with no spaces.
pub(crate) fn is_event(frame: &[u8], name: &str) -> bool {
    memmem::find(frame, format!(r#""event":"{name}""#).as_bytes()).is_some()
}

/// Sockudo, as a [`Target`].
pub(crate) struct SockudoTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl SockudoTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> SockudoTarget {
        SockudoTarget { server, pid }
    }
}

/// Reads frames until one is the event `name`; fails on `pusher:error`. Payload events
/// that arrive meanwhile go to `early`.
async fn expect_event(
    websocket: &mut WsStream,
    early: &mut Vec<BenchPayload>,
    name: &str,
) -> anyhow::Result<()> {
    loop {
        let message = ws::next_message(websocket)
            .await?
            .with_context(|| format!("sockudo closed the connection before {name}"))?;
        let Some(frame) = ws::data_bytes(&message) else {
            continue;
        };
        if is_event(frame, name) {
            return Ok(());
        }
        if is_event(frame, ERROR) {
            anyhow::bail!(
                "sockudo refused while waiting for {name}: {}",
                String::from_utf8_lossy(frame)
            );
        }
        if is_event(frame, PING) {
            websocket.send(Message::text(encode_pong())).await?;
        } else {
            ws::scan_payloads(frame, early);
        }
    }
}

#[async_trait]
impl Target for SockudoTarget {
    fn name(&self) -> &str {
        "sockudo"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        _member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        super::check_room_name(room)?;
        let mut websocket =
            ws::connect(self.server, Some(source_ip), &connect_path(APP_KEY), None).await?;
        let mut early = Vec::new();
        expect_event(&mut websocket, &mut early, CONNECTION_ESTABLISHED).await?;
        websocket
            .send(Message::text(encode_subscribe(room)))
            .await?;
        expect_event(&mut websocket, &mut early, SUBSCRIPTION_SUCCEEDED).await?;
        Ok(Box::new(PusherSubscriber { websocket, early }))
    }

    async fn publisher(
        &self,
        room: &str,
        _sender_idx: usize,
    ) -> anyhow::Result<Box<dyn Publisher>> {
        super::check_room_name(room)?;
        // One client per publisher, each on a kept-alive connection of its own.
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .build()?;
        Ok(Box::new(PusherPublisher {
            client,
            server: self.server,
            channel: room.to_owned(),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct PusherSubscriber {
    websocket: WsStream,
    early: Vec<BenchPayload>,
}

#[async_trait]
impl Subscriber for PusherSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let message = match ws::next_data(&mut self.websocket, &mut self.early, out).await? {
            ws::Read::Data(message) => message,
            ws::Read::Handled => return Ok(true),
            ws::Read::Closed => return Ok(false),
        };
        let frame = ws::data_bytes(&message).unwrap_or_default();
        // Payload events are the hot path: scan first, look for a ping only when the
        // frame held no payload.
        let before = out.len();
        ws::scan_payloads(frame, out);
        if out.len() == before && is_event(frame, PING) {
            self.websocket.send(Message::text(encode_pong())).await?;
        }
        Ok(true)
    }
}

struct PusherPublisher {
    client: reqwest::Client,
    server: SocketAddr,
    channel: String,
}

#[async_trait]
impl Publisher for PusherPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let path = format!("/apps/{APP_ID}/events");
        let body = encode_event_body(&self.channel, payload);
        let now_s = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let query = signed_post_query(&path, body.as_bytes(), APP_KEY, APP_SECRET, now_s);
        let response = self
            .client
            .post(format!("http://{}{path}?{query}", self.server))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let answer = response.bytes().await?;
        anyhow::ensure!(
            status.is_success(),
            "sockudo refused the publish: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_pusher_protocol_json() {
        let cases: Vec<(String, serde_json::Value)> = vec![
            (
                encode_subscribe("bench-1"),
                serde_json::json!({"event": "pusher:subscribe", "data": {"channel": "bench-1"}}),
            ),
            (
                encode_pong(),
                serde_json::json!({"event": "pusher:pong", "data": {}}),
            ),
            (
                encode_event_body("bench-1", "tb1|1|2|3|1|.."),
                serde_json::json!({"name": "m", "channel": "bench-1", "data": "tb1|1|2|3|1|.."}),
            ),
        ];
        for (encoded, expect) in cases {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&encoded).unwrap(),
                expect
            );
        }
        assert!(connect_path("k").starts_with("/app/k?protocol=7&"));
    }

    #[test]
    fn server_events_are_recognised_by_name() {
        let cases = [
            (
                r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#,
                CONNECTION_ESTABLISHED,
                true,
            ),
            (
                r#"{"event":"pusher_internal:subscription_succeeded","channel":"bench-1","data":"{}"}"#,
                SUBSCRIPTION_SUCCEEDED,
                true,
            ),
            (r#"{"event":"pusher:ping","data":"{}"}"#, PING, true),
            (
                r#"{"event":"pusher:ping","data":"{}"}"#,
                SUBSCRIPTION_SUCCEEDED,
                false,
            ),
            (
                r#"{"event":"pusher:error","data":{"code":4001,"message":"App key does not exist"}}"#,
                ERROR,
                true,
            ),
            // A payload that merely mentions an event name is not that event.
            (
                r#"{"event":"m","channel":"c","data":"pusher:ping"}"#,
                PING,
                false,
            ),
        ];
        for (frame, name, expect) in cases {
            assert_eq!(
                is_event(frame.as_bytes(), name),
                expect,
                "{name} in {frame}"
            );
        }
    }
}
