//! A real server on port 0 with its own data directory, and helpers to reach it with the
//! Rust SDK, raw WebSockets and the HTTP API.

#![allow(dead_code)] // each test binary uses a different part of the harness

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use throng_client::{Client, ClientConfig, Event, Events, ReconnectPolicy};
use throng_protocol::{ClientFrame, Codec, Message, Priority, ServerFrame};
use throng_server::throng_config::Config;
use throng_server::RunningServer;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const API_KEY: &str = "test-api-key-0123456789";

/// Upper bound for anything a test waits for; generous so that slow machines pass.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub url: String,
    config: Config,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    config.auth.jwt_secret = Some(SECRET.into());
    config.auth.api_keys = vec![API_KEY.into()];
    config.auth.dev_credentials = false;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        edit(&mut config);
        let server = throng_server::start(config.clone())
            .await
            .expect("server starts");
        let url = server.url();
        TestServer {
            server: Some(server),
            url,
            config,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Drains the server and starts a new one on the same data directory (a restart).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.drain().await;
        }
        let server = throng_server::start(self.config.clone())
            .await
            .expect("server restarts");
        self.url = server.url();
        self.server = Some(server);
    }

    pub fn token(&self, user: &str) -> String {
        throng_auth::mint_hs256(SECRET, user, Duration::from_secs(3600), &[]).unwrap()
    }

    pub fn token_with_roles(&self, user: &str, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        throng_auth::mint_hs256(SECRET, user, Duration::from_secs(3600), &roles).unwrap()
    }

    pub fn client_config(&self, token: String) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone(), token);
        config.reconnect = ReconnectPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            max_attempts: None,
            ..ReconnectPolicy::default()
        };
        config
    }

    pub async fn client(&self, user: &str) -> (Client, Events) {
        Client::connect(self.client_config(self.token(user)))
            .await
            .expect("client connects")
    }

    /// A request to the server API with the test API key.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn create_room(&self, id: &str, settings: Value) -> Value {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/v1/rooms",
                Some(json!({"id": id, "settings": settings})),
            )
            .await;
        assert_eq!(status, 201, "create room: {body}");
        body
    }

    pub async fn publish(&self, room: &str, priority: Priority, body: Value) -> u64 {
        let (status, reply) = self
            .api(
                reqwest::Method::POST,
                &format!("/v1/rooms/{room}/messages"),
                Some(json!({"kind": "notice", "body": body, "priority": priority})),
            )
            .await;
        assert_eq!(status, 201, "publish: {reply}");
        reply["seq"].as_u64().unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// Sums a Prometheus counter over the samples whose labels contain `labels`.
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with([' ', '{']) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Collects room messages from an SDK event stream until `done` says so.
pub async fn collect_until(
    events: &mut Events,
    got: &mut Vec<Message>,
    done: impl Fn(&[Message]) -> bool,
) {
    tokio::time::timeout(PATIENCE, async {
        while !done(got) {
            match events.next().await {
                Some(Event::Messages { msgs, .. }) => got.extend(msgs),
                Some(Event::Closed) | None => panic!("client closed while waiting for messages"),
                Some(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out with {} messages", got.len()));
}

pub fn seqs(msgs: &[Message]) -> Vec<u64> {
    msgs.iter().map(|m| m.seq).collect()
}

/// Seqs counted from the first message's (1, 2, 3 for consecutive seqs): a room's seqs
/// start from a clock-derived origin, not from 1.
pub fn positions(msgs: &[Message]) -> Vec<u64> {
    let origin = msgs.first().map_or(0, |m| m.seq - 1);
    msgs.iter().map(|m| m.seq - origin).collect()
}

/// A raw WebSocket client, for behaviour the SDK hides (not reading, bad frames).
pub struct RawClient {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawClient {
    pub async fn connect(url: &str, token: &str) -> RawClient {
        let ws_url = format!("{}/v1/ws?token={token}", url.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("raw connect");
        let mut client = RawClient { ws };
        assert!(matches!(
            client.next_frame().await,
            ServerFrame::Hello { .. }
        ));
        client
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        let text = String::from_utf8(Codec::Json.encode_client(frame).to_vec()).unwrap();
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(WsMessage::text(text.to_owned()))
            .await
            .unwrap();
    }

    pub async fn next_frame(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("frame in time")
                .expect("open")
                .expect("ok");
            match message {
                WsMessage::Text(text) => {
                    return Codec::Json.decode_server(text.as_bytes()).unwrap()
                }
                WsMessage::Binary(bytes) => return Codec::MsgPack.decode_server(&bytes).unwrap(),
                WsMessage::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The close frame the server sends next, skipping other frames.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn join(&mut self, room: &str) -> ServerFrame {
        self.send(&ClientFrame::Join {
            id: Some(1),
            room: room.into(),
            since: None,
            mode: Default::default(),
        })
        .await;
        loop {
            let frame = self.next_frame().await;
            if matches!(
                frame,
                ServerFrame::Joined { .. } | ServerFrame::Error { .. }
            ) {
                return frame;
            }
        }
    }
}

/// Per-priority message counts, for priority assertions.
pub fn by_priority(msgs: &[Message]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for m in msgs {
        *counts.entry(m.priority.as_str()).or_insert(0) += 1;
    }
    counts
}
