//! A system under test, as the load generator drives it: Throng itself or a peer server.
//!
//! Every target carries the same [`BenchPayload`] inside whatever envelope its protocol
//! uses, so latency, loss and duplicates are measured the same way for all of them.

use async_trait::async_trait;
use std::net::IpAddr;

/// What the load generator embeds in every published message. Encoded as ASCII text
/// `tb1|<sender>|<seq>|<sent_at_us>|<lane>|` followed by padding up to the payload size,
/// so a subscriber can find and parse it in a raw frame without decoding the envelope
/// (JSON, MessagePack, MQTT, XMPP…): see [`BenchPayload::find_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchPayload {
    /// Which publisher sent it.
    pub sender: u32,
    /// The publisher's own counter, from 0, for loss and duplicate accounting.
    pub seq: u64,
    /// Microseconds since the Unix epoch when it was published (same machine clock).
    pub sent_at_us: u64,
    /// Priority lane for Throng (0 system, 1 high, 2 low); 1 for peers.
    pub lane: u8,
}

/// One subscriber connection, joined to its room.
#[async_trait]
pub trait Subscriber: Send {
    /// Waits for the next frame from the server and appends the payloads it carried.
    /// Returns Ok(false) when the server closed the connection.
    async fn next(&mut self, out: &mut Vec<BenchPayload>) -> anyhow::Result<bool>;
}

/// One publisher.
#[async_trait]
pub trait Publisher: Send {
    /// Publishes one message whose text is `payload` (exactly the bytes given).
    async fn publish(&mut self, payload: &str) -> anyhow::Result<()>;
}

/// A server under test.
#[async_trait]
pub trait Target: Send + Sync {
    /// Short name used in reports and charts, e.g. `throng`, `socketio`, `mosquitto`.
    fn name(&self) -> &str;
    /// Opens one subscriber from `source_ip` and joins `room`; resolves only once the
    /// server acknowledged the join or subscription (a connection counts only then).
    async fn subscribe(
        &self,
        source_ip: IpAddr,
        room: &str,
        member_idx: usize,
    ) -> anyhow::Result<Box<dyn Subscriber>>;
    /// Opens one publisher into `room`.
    async fn publisher(&self, room: &str, sender_idx: usize) -> anyhow::Result<Box<dyn Publisher>>;
    /// The server's process id, for CPU and memory sampling from /proc, if known.
    fn server_pid(&self) -> Option<u32>;
}
