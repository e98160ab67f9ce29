//! Peer servers driven through the same [`crate::target::Target`] contract as Throng.

use crate::target::Target;
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
pub const NAMES: &[&str] = &[];

/// The target for a peer by name.
pub fn target(name: &str, spec: &PeerSpec) -> anyhow::Result<Arc<dyn Target>> {
    let _ = spec;
    anyhow::bail!("unknown peer {name:?}; known: {NAMES:?}")
}
