//! What an app chooses when it connects: server, token, codec, reconnect and buffer sizes.

use crate::backoff::ReconnectPolicy;
use std::time::Duration;
use throng_protocol::Codec;

/// Settings of one client. Build it with [`ClientConfig::new`] and change fields as needed.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:7700` or `wss://chat.example.com`.
    /// The SDK derives `ws(s)://host/v1/ws` from it (see [`crate::websocket_url`]).
    pub url: String,
    /// The JWT, sent as the `token` query parameter. Replace it on a live client with
    /// [`crate::Client::set_token`] (needed after close code 4004 `token_expired`).
    pub token: String,
    /// JSON (the default, text frames) or MessagePack (binary frames), chosen by
    /// WebSocket subprotocol.
    pub codec: Codec,
    pub reconnect: ReconnectPolicy,
    /// How long a request (join, leave, send, pull, ping) waits for its reply, and how
    /// long [`crate::Client::connect`] waits for the handshake and `hello`. Default 10 s.
    pub request_timeout: Duration,
    /// Capacity of the [`crate::Events`] channel. Default 1024.
    ///
    /// Policy at the bound: when the channel is full the SDK stops reading the socket
    /// until the app takes an event. The server then sees a slow reader: it skips
    /// messages for this connection (reported in `skipped`) and may close it with 4002
    /// `slow_consumer`. Heartbeats and requests keep being written meanwhile, but replies
    /// queue behind unread frames, so requests may time out.
    pub event_buffer: usize,
    /// Size of the WebSocket read buffer, allocated up front for each connection.
    /// Default 16 KiB: the transport's own default (128 KiB) costs too much memory when a
    /// test or the bench opens thousands of clients.
    pub read_buffer_size: usize,
    /// In notify mode, answer each `notify` with a `pull` and emit the pulled messages as
    /// [`crate::Event::Messages`]. When false the app gets [`crate::Event::Notify`] and
    /// pulls itself. Default true.
    pub auto_pull: bool,
    /// `limit` of the automatic pulls; `None` leaves it to the server (200 by default,
    /// at most 500).
    pub auto_pull_limit: Option<u32>,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            token: token.into(),
            codec: Codec::Json,
            reconnect: ReconnectPolicy::default(),
            request_timeout: Duration::from_secs(10),
            event_buffer: 1024,
            read_buffer_size: 16 * 1024,
            auto_pull: true,
            auto_pull_limit: None,
        }
    }
}
