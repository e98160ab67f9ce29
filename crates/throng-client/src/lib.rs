//! Rust client SDK for Throng: connect, join rooms, send, receive, and survive
//! reconnects without losing or repeating messages.
//!
//! ```no_run
//! use serde_json::json;
//! use throng_client::{Client, ClientConfig, DeliveryMode, Event};
//!
//! # async fn demo() -> Result<(), throng_client::ClientError> {
//! let config = ClientConfig::new("http://127.0.0.1:7700", "<a JWT from your backend>");
//! let (client, mut events) = Client::connect(config).await?;
//!
//! let joined = client.join("lobby", DeliveryMode::Push).await?;
//! println!("{} online, {} recent messages", joined.online, joined.msgs.len());
//!
//! let sent = client.send("lobby", "text", json!({"text": "hello"})).await?;
//! println!("accepted as seq {}", sent.seq);
//!
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Messages { room, msgs, skipped } => {
//!             for message in msgs {
//!                 println!("[{room}] {} {}: {}", message.seq, message.from, message.body);
//!             }
//!             if !skipped.is_empty() {
//!                 println!("[{room}] {} messages skipped", skipped.total());
//!             }
//!         }
//!         Event::Closed => break,
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout:
//! - [`client`]: the [`Client`] handle. Every call becomes a command for the connection
//!   task and waits for its reply under `request_timeout`.
//! - `connection`: the one background task per client that owns the socket: reads,
//!   writes, heartbeats, reply matching, events, reconnect and resume.
//! - `transport`: the WebSocket handshake (subprotocol, `hello`) and frame encoding.
//! - [`rooms`]: per-room state: dedup window, `last_seq`, resume position, automatic
//!   pulls. Its module docs explain which seq a resume starts from, and why.
//! - [`dedup`]: the windows of recently seen seqs and reliable message ids.
//! - [`reliable`]: the `ack` frames that acknowledge a received frame's reliable messages.
//! - [`likes`]: taps of [`Client::like`] coalesced per room and paced.
//! - [`pending`]: requests in flight, matched by id.
//! - [`backoff`], [`endpoint`], [`config`], [`event`], [`error`]: reconnect delays, URL
//!   derivation, settings, events and replies, errors.
//!
//! Reliable messages (those with an `id`: gifts, red packets) are shown once per room,
//! however often the server carries them again, and acknowledged automatically; send one
//! with [`Client::send_reliable`].
//!
//! The decisions (dedup, resume position, backoff, URL, id matching) are plain structs
//! and functions, tested without a server; the connection task only wires them to the
//! socket.
//!
//! Bounds: every queue and map has a limit and a policy at the limit. Events: the
//! channel holds `event_buffer` events, then the SDK stops reading the socket (see
//! [`ClientConfig::event_buffer`]). Calls: a queue of 256, then callers wait. Requests in
//! flight: [`MAX_APP_REQUESTS`], then calls wait in the queue. Rooms: [`MAX_ROOMS`], then
//! `join` fails. Dedup: [`dedup::WINDOW`] seqs and [`dedup::ID_WINDOW`] reliable ids per
//! room.

pub mod backoff;
pub mod client;
pub mod config;
mod connection;
pub mod dedup;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod likes;
pub mod pending;
pub mod reliable;
pub mod rooms;
mod transport;

pub use backoff::ReconnectPolicy;
pub use client::Client;
pub use config::ClientConfig;
pub use endpoint::websocket_url;
pub use error::ClientError;
pub use event::{Event, Events, Hello, Joined, Pulled, Sent};
pub use pending::MAX_APP_REQUESTS;
pub use rooms::MAX_ROOMS;
pub use throng_protocol::{
    CloseCode, Codec, DeliveryMode, ErrorCode, LeaveReason, Message, Priority, Skipped,
};
