//! nginx + Nchan: WebSocket subscribers, HTTP publishers (`bench/peers/nchan/nginx.conf.in`).
//!
//! A subscriber opens `GET /sub?room=<room>` as a WebSocket; Nchan registers the
//! subscription before it completes the handshake, so the open socket is the
//! subscription. Each message arrives as one frame holding exactly the published body.
//! A publisher POSTs the payload to `/pub?room=<room>` over a kept-alive connection.

use super::ws::{self, WsStream};
use crate::target::{BenchPayload, Publisher, Subscriber, Target};
use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};

pub(crate) const DEFAULT_PORT: u16 = 8090;

/// The nchan target.
pub(crate) struct NchanTarget {
    server: SocketAddr,
    pid: Option<u32>,
}

impl NchanTarget {
    pub(crate) fn new(server: SocketAddr, pid: Option<u32>) -> NchanTarget {
        NchanTarget { server, pid }
    }
}

pub(crate) fn subscribe_path(room: &str) -> String {
    format!("/sub?room={room}")
}

pub(crate) fn publish_url(server: SocketAddr, room: &str) -> String {
    format!("http://{server}/pub?room={room}")
}

#[async_trait]
impl Target for NchanTarget {
    fn name(&self) -> &str {
        "nchan"
    }

    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        _member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>> {
        super::check_room_name(room)?;
        let websocket =
            ws::connect(self.server, Some(source_ip), &subscribe_path(room), None).await?;
        Ok(Box::new(NchanSubscriber { websocket }))
    }

    async fn publisher(
        &self,
        room: &str,
        _sender_idx: usize,
    ) -> anyhow::Result<Box<dyn Publisher>> {
        super::check_room_name(room)?;
        // One client per publisher: each keeps its own connection, like a socket of
        // the other peers' publishers.
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .build()?;
        Ok(Box::new(NchanPublisher {
            client,
            url: publish_url(self.server, room),
        }))
    }

    fn server_pid(&self) -> Option<u32> {
        self.pid
    }
}

struct NchanSubscriber {
    websocket: WsStream,
}

#[async_trait]
impl Subscriber for NchanSubscriber {
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool> {
        let Some(message) = ws::next_message(&mut self.websocket).await? else {
            return Ok(false);
        };
        if let Some(frame) = ws::data_bytes(&message) {
            ws::scan_payloads(frame, out);
        }
        Ok(true)
    }
}

struct NchanPublisher {
    client: reqwest::Client,
    url: String,
}

#[async_trait]
impl Publisher for NchanPublisher {
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let response = self
            .client
            .post(&self.url)
            .body(payload.to_owned())
            .send()
            .await?;
        // 201: delivered to subscribers; 202: queued, nobody subscribed yet.
        anyhow::ensure!(
            response.status().is_success(),
            "nchan refused the publish: {}",
            response.status()
        );
        // Read the short status body so the connection can be reused.
        response.bytes().await?;
        Ok(())
    }
}
