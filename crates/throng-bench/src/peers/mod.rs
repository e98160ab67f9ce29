//! Peer servers driven through the same [`crate::target::Target`] contract as Throng.
//!
//! Each peer speaks its own protocol over WebSocket (`bench/peers/` installs, configures
//! and starts them, all on loopback):
//!
//! | name | module | subscription acknowledged by | publish path |
//! | --- | --- | --- | --- |
//! | `socketio` | `socketio` | the `join` event's ack | `publish` event, broadcast to the room |
//! | `mosquitto` | `mqtt` | SUBACK | PUBLISH QoS 0 |
//! | `nchan` | `nchan` | the WebSocket open itself | HTTP POST |
//! | `nats` | `nats` | PONG to a PING sent after SUB | PUB |
//! | `ejabberd` | `xmpp` | the room's echo of the join presence (status 110) | groupchat message |
//! | `sockudo` | `pusher` | `pusher_internal:subscription_succeeded` | signed HTTP events API |
//!
//! Every subscriber finds payloads by scanning raw frames (or, for the byte-stream
//! protocols, each message's payload) for the bench marker; no envelope is decoded on the
//! hot path. `ws` holds the shared WebSocket plumbing, `reassembly` the packet
//! reassembly for MQTT and NATS, whose packets may straddle WebSocket frames.

mod mqtt;
mod nats;
mod nchan;
mod pusher;
mod pusher_signing;
mod reassembly;
mod socketio;
mod ws;
mod xmpp;

use crate::target::Target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a peer listens (set up by the scripts in `bench/peers/`).
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub host: String,
    /// The peer's WebSocket (or HTTP) port; each peer has a default.
    pub port: Option<u16>,
    /// The peer server's process id, for CPU and memory sampling.
    pub pid: Option<u32>,
}

/// Names of the peers this build can drive.
pub const NAMES: &[&str] = &[
    "socketio",
    "mosquitto",
    "nchan",
    "nats",
    "ejabberd",
    "sockudo",
];

/// The port a peer listens on when `bench/peers/<name>/ctl.sh start` runs without
/// `BENCH_PEER_PORT`.
pub fn default_port(name: &str) -> Option<u16> {
    Some(match name {
        "socketio" => socketio::DEFAULT_PORT,
        "mosquitto" => mqtt::DEFAULT_PORT,
        "nchan" => nchan::DEFAULT_PORT,
        "nats" => nats::DEFAULT_PORT,
        "ejabberd" => xmpp::DEFAULT_PORT,
        "sockudo" => pusher::DEFAULT_PORT,
        _ => return None,
    })
}

/// The target for a peer by name.
pub fn target(name: &str, spec: &PeerSpec) -> anyhow::Result<Arc<dyn Target>> {
    let Some(default_port) = default_port(name) else {
        anyhow::bail!("unknown peer {name:?}; known: {NAMES:?}");
    };
    let server = ws::resolve(&spec.host, spec.port.unwrap_or(default_port))?;
    Ok(match name {
        "socketio" => Arc::new(socketio::SocketIoTarget::new(server, spec.pid)),
        "mosquitto" => Arc::new(mqtt::MosquittoTarget::new(server, spec.pid)),
        "nchan" => Arc::new(nchan::NchanTarget::new(server, spec.pid)),
        "nats" => Arc::new(nats::NatsTarget::new(server, spec.pid)),
        "ejabberd" => Arc::new(xmpp::EjabberdTarget::new(server, spec.pid)),
        "sockudo" => Arc::new(pusher::SockudoTarget::new(server, spec.pid)),
        _ => unreachable!("default_port knows every name"),
    })
}

/// Room names go into URLs, MQTT topics, NATS subjects, XMPP addresses and Pusher
/// channel names unescaped, so they are held to the characters all of those accept.
fn check_room_name(room: &str) -> anyhow::Result<()> {
    let acceptable = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_');
    anyhow::ensure!(
        !room.is_empty() && room.len() <= 128 && room.bytes().all(acceptable),
        "room name {room:?} is not 1-128 characters of A-Z, a-z, 0-9, '-' and '_'"
    );
    Ok(())
}

/// A client name unique across the load generator's processes and connections: MQTT
/// brokers drop an older session when a second client presents the same id.
fn client_id(role: &str, index: usize) -> String {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    let serial = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    format!("tb-{role}-{}-{index}-{serial}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: Option<u16>) -> PeerSpec {
        PeerSpec {
            host: "127.0.0.1".to_owned(),
            port,
            pid: Some(42),
        }
    }

    #[test]
    fn every_listed_peer_builds_a_target_of_that_name() {
        for name in NAMES {
            let target = target(name, &spec(None)).unwrap();
            assert_eq!(target.name(), *name);
            assert_eq!(target.server_pid(), Some(42));
            assert!(default_port(name).is_some());
        }
        assert!(target("soketi", &spec(None)).is_err());
        assert_eq!(default_port("soketi"), None);
    }

    #[test]
    fn room_names_are_held_to_characters_every_protocol_accepts() {
        let cases = [
            ("bench-18c2f3a", true),
            ("bench-18c2f3a-12", true),
            ("Room_1", true),
            ("", false),
            ("a b", false),
            ("a/b", false),
            ("a.b", false),
            ("a+b", false),
            ("a#", false),
            ("a?x=1", false),
            ("é", false),
        ];
        for (room, acceptable) in cases {
            assert_eq!(check_room_name(room).is_ok(), acceptable, "room {room:?}");
        }
        assert!(check_room_name(&"r".repeat(128)).is_ok());
        assert!(check_room_name(&"r".repeat(129)).is_err());
    }

    #[test]
    fn client_ids_differ_between_connections_with_the_same_index() {
        let first = client_id("sub", 7);
        let second = client_id("sub", 7);
        assert_ne!(first, second);
        assert!(first.starts_with("tb-sub-"), "{first}");
        assert!(
            check_room_name(&first).is_ok(),
            "usable as an XMPP nick and MQTT id: {first}"
        );
    }
}
