//! Backend traits: everything a node shares with other nodes goes through one of these,
//! so that embedded mode and cluster mode run the same code with different backends.
//!
//! - [`RoomBus`]: assigns each room message its seq and fans it out to every node that
//!   subscribed to the room, in seq order; keeps a short per-room history for joins.
//!   Embedded: [`memory::MemoryBus`]. Cluster (later): Redis.
//! - [`HotState`]: fast shared counters: rate-limit buckets and online counts.
//!   Embedded: [`memory::MemoryHotState`]. Cluster (later): Redis.
//! - [`Store`]: durable data (room records, moderation entries, reliable and recorded
//!   messages). Embedded: [`sqlite::SqliteStore`].
//!   Cluster (later): PostgreSQL.
//!
//! Every implementation must pass the suites in [`contract`].

pub mod contract;
pub mod memory;
pub mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use throng_protocol::{Message, Priority};
use throng_room::attributes::{AttrError, AttributeLimits, Change, Since};
use throng_room::moderation::{ListKind, Sanction};
use throng_room::RoomSettings;
use tokio::sync::broadcast;

/// A backend could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend is down or timed out; the caller may retry later.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// A bound was reached (for example the number of rooms); see the message.
    #[error("backend limit reached: {0}")]
    LimitReached(String),
    /// Stored data could not be read back.
    #[error("corrupt backend data: {0}")]
    Corrupt(String),
}

/// A message before the bus stamps it with a seq and a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub from: String,
    pub kind: String,
    pub priority: Priority,
    pub body: serde_json::Value,
    /// The id of a reliable message; None for ordinary ones.
    pub id: Option<String>,
}

/// A live subscription to one room's messages on this node; dropping it unsubscribes.
///
/// Bounded: a subscriber that falls more than the bus's channel capacity behind loses the
/// oldest messages and is told how many ([`BusRecv::Lagged`]).
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Message>>,
    /// Keeps implementation-specific state (for example a Redis subscription) alive.
    _guard: Option<Box<dyn Send + Sync>>,
}

/// What [`Subscription::recv`] returns.
#[derive(Debug)]
pub enum BusRecv {
    Message(Arc<Message>),
    /// This many messages were lost because the subscriber fell behind.
    Lagged(u64),
    /// The room was removed from the bus.
    Closed,
}

impl Subscription {
    pub fn new(
        receiver: broadcast::Receiver<Arc<Message>>,
        guard: Option<Box<dyn Send + Sync>>,
    ) -> Subscription {
        Subscription {
            receiver,
            _guard: guard,
        }
    }

    pub async fn recv(&mut self) -> BusRecv {
        match self.receiver.recv().await {
            Ok(message) => BusRecv::Message(message),
            Err(broadcast::error::RecvError::Lagged(n)) => BusRecv::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => BusRecv::Closed,
        }
    }
}

/// Cross-node fan-out of room messages.
///
/// Guarantees: `publish` assigns the room's next seq (strictly increasing, starting at 1)
/// and a server timestamp; every subscription of the room that exists when `publish`
/// returns receives the message, in seq order, at most once (a subscriber that lags loses
/// messages, and is told).
#[async_trait]
pub trait RoomBus: Send + Sync + 'static {
    async fn publish(&self, room: &str, draft: Draft) -> Result<Arc<Message>, BackendError>;
    async fn subscribe(&self, room: &str) -> Result<Subscription, BackendError>;
    /// The room's last assigned seq, 0 if none.
    async fn last_seq(&self, room: &str) -> Result<u64, BackendError>;
    /// The room's most recent messages (at most `limit`, bounded by the bus's history
    /// length), oldest first. Nodes seed a room's rings from it when they start hosting it.
    async fn recent(&self, room: &str, limit: usize) -> Result<Vec<Arc<Message>>, BackendError>;
    /// Forgets a room: its seq, its history; current subscriptions end with `Closed`.
    async fn remove_room(&self, room: &str) -> Result<(), BackendError>;
}

/// Fast shared state: rate limits and online counts.
#[async_trait]
pub trait HotState: Send + Sync + 'static {
    /// Takes one token from the bucket named `key` (for example `user:alice` or
    /// `room:lobby`), refilled at `rate_per_sec` up to `burst`. Ok(false) means limited.
    async fn take_token(
        &self,
        key: &str,
        rate_per_sec: u32,
        burst: u32,
    ) -> Result<bool, BackendError>;
    /// Adds `delta` connections to a room's online count and returns the new total.
    async fn add_online(&self, room: &str, delta: i64) -> Result<u64, BackendError>;
    async fn online(&self, room: &str) -> Result<u64, BackendError>;
    /// Changes a room's attributes (created empty with `limits` on first use). The inner
    /// error is a refusal by the attribute rules (nothing changed); the outer one a
    /// backend failure. Returns the changes made, each with its new version.
    async fn attr_write(
        &self,
        room: &str,
        limits: &AttributeLimits,
        write: AttrWrite,
    ) -> Result<Result<Vec<Change>, AttrError>, BackendError>;
    /// A room's attribute changes after `version`, or its full set when the log no
    /// longer covers that version (a room never written is an empty set at version 0).
    async fn attr_since(&self, room: &str, version: u64) -> Result<Since, BackendError>;
    /// Adds `n` to a room's running counter `name` (the total of an aggregated kind, such
    /// as likes) and returns the new total. At most [`MAX_ROOM_COUNTERS`] per room.
    async fn counter_add(&self, room: &str, name: &str, n: u64) -> Result<u64, BackendError>;
    /// A room's running counters.
    async fn counters(&self, room: &str) -> Result<BTreeMap<String, u64>, BackendError>;
    /// Forgets a room's hot state: attributes and counters (the room was deleted).
    async fn drop_room(&self, room: &str) -> Result<(), BackendError>;
}

/// The most running counters a room keeps (one per aggregated kind).
pub const MAX_ROOM_COUNTERS: usize = 64;

/// One write to a room's attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrWrite {
    Set {
        key: String,
        value: serde_json::Value,
        /// The member setting it (its owner), or None for the server API.
        by: Option<String>,
        delete_on_leave: bool,
        expect_version: Option<u64>,
    },
    Delete {
        key: String,
        by: Option<String>,
        expect_version: Option<u64>,
    },
    /// The user left the room: delete the entries it set with `delete_on_leave`.
    RemoveOwnedBy { user: String },
}

/// A room as stored durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub id: String,
    pub settings: RoomSettings,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// Durable data.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a room; Ok(false) if one with that id exists (it is left unchanged).
    async fn create_room(&self, room: &RoomRecord) -> Result<bool, BackendError>;
    async fn get_room(&self, id: &str) -> Result<Option<RoomRecord>, BackendError>;
    /// Replaces a room's settings; Ok(false) if there is no such room.
    async fn update_room(&self, id: &str, settings: &RoomSettings) -> Result<bool, BackendError>;
    /// Ok(false) if there was no such room.
    async fn delete_room(&self, id: &str) -> Result<bool, BackendError>;
    /// How many rooms exist.
    async fn room_count(&self) -> Result<u64, BackendError>;
    /// Adds or replaces a moderation entry (same kind, room and user).
    async fn put_sanction(&self, sanction: &Sanction) -> Result<(), BackendError>;
    /// Removes a moderation entry; Ok(false) if there was none.
    async fn delete_sanction(
        &self,
        kind: ListKind,
        room: Option<&str>,
        user: &str,
    ) -> Result<bool, BackendError>;
    /// Every moderation entry, expired or not (a node loads them at start).
    async fn all_sanctions(&self) -> Result<Vec<Sanction>, BackendError>;
    /// A server-wide setting stored by the server API, if set.
    async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, BackendError>;
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), BackendError>;
    /// Ok(false) if it was not set.
    async fn delete_setting(&self, key: &str) -> Result<bool, BackendError>;
    /// Rooms ordered by id, starting after `after`, at most `limit`.
    async fn list_rooms(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoomRecord>, BackendError>;
    /// Keeps a reliable message until `expires_at` (Unix ms). Storing the same room and
    /// id again replaces it.
    async fn reliable_put(
        &self,
        room: &str,
        message: &Message,
        expires_at: u64,
    ) -> Result<(), BackendError>;
    /// The unexpired reliable message of a room with this id, if any.
    async fn reliable_find(
        &self,
        room: &str,
        id: &str,
        now: u64,
    ) -> Result<Option<Message>, BackendError>;
    /// How many unexpired reliable messages a room holds.
    async fn reliable_count(&self, room: &str, now: u64) -> Result<u64, BackendError>;
    /// A room's unexpired reliable messages with their expiry, in seq order.
    async fn reliable_pending(
        &self,
        room: &str,
        now: u64,
    ) -> Result<Vec<(Message, u64)>, BackendError>;
    /// Deletes every expired reliable message; returns how many.
    async fn reliable_prune(&self, now: u64) -> Result<u64, BackendError>;
    /// Records room messages, given as (room, message), in one transaction. A message
    /// whose (room, seq) is recorded already is skipped, so writing a batch again is
    /// harmless; messages of rooms that do not exist (any more) are skipped too, so a
    /// batch that races a room's deletion leaves nothing behind.
    async fn record_messages(
        &self,
        room_messages: &[(String, Message)],
    ) -> Result<(), BackendError>;
    /// A room's recorded messages with `from_ms <= ts <= to_ms`, ordered by (ts, seq),
    /// at most `limit`. With `after: Some((ts, seq))` only those after that position.
    async fn recorded(
        &self,
        room: &str,
        from_ms: u64,
        to_ms: u64,
        after: Option<(u64, u64)>,
        limit: u32,
    ) -> Result<Vec<Message>, BackendError>;
    /// Deletes a room's recorded messages with `ts < before_ms`; returns how many. The
    /// caller applies each room's own retention (`recording.retention_s`).
    async fn prune_recorded(&self, room: &str, before_ms: u64) -> Result<u64, BackendError>;
}

/// The backends a node runs with.
#[derive(Clone)]
pub struct Backends {
    pub bus: Arc<dyn RoomBus>,
    pub hot: Arc<dyn HotState>,
    pub store: Arc<dyn Store>,
}

/// Milliseconds since the Unix epoch, for server timestamps.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
