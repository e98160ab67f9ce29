//! Throng's server: the WebSocket gateway, the HTTP server API and the operations
//! endpoints of one node, wired to its backends.
//!
//! Layout:
//! - [`gateway`]: `/v1/ws`: handshake (token, capacity, codec) and the connection task.
//! - [`rooms`]: the rooms hosted on this node: a registry and one host task per room,
//!   driving the sans-IO [`throng_room::Room`].
//! - [`api`]: `/v1/rooms…`, the server API for the app's backend, and its OpenAPI document.
//! - [`ops`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`demo`]: `/`, the live-room demo page, and its development-only token endpoint.
//! - [`recording`]: accepted messages stored for replay, in batches off the publish path.
//! - [`node`]: the state shared by all of the above.
//!
//! [`start`] binds the listener and runs everything; [`RunningServer::drain`] stops it.
//! Tests start servers on port 0 through the same function.

pub mod api;
pub mod attributes;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod moderation;
pub mod node;
pub mod ops;
pub mod publish;
pub mod recording;
pub mod rooms;
mod validate;

use anyhow::Context;
use axum::routing::get;
use node::Node;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use throng_auth::{ApiKeys, DevCredentials, JwtVerifier};
use throng_backend::memory::{MemoryBus, MemoryBusLimits, MemoryHotState};
use throng_backend::sqlite::SqliteStore;
use throng_backend::Backends;
use throng_config::Config;
use tokio::sync::watch;

pub use throng_config;

/// Bus topics a node uses besides rooms (the global moderation topic).
const INTERNAL_TOPICS: usize = 1;

/// The SQLite file in the data directory.
pub const DATABASE_FILE: &str = "throng.db";

/// A server that is running; dropping it does not stop it, [`RunningServer::drain`] does.
pub struct RunningServer {
    pub node: Arc<Node>,
    pub local_addr: SocketAddr,
    /// Development credentials in use (generated in the data directory), if any.
    pub dev_credentials: Option<DevCredentials>,
    stop_accepting: watch::Sender<bool>,
    serve_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections open when the drain began.
    pub connections: usize,
    /// Connections still open at the deadline, closed by stopping.
    pub forced: usize,
}

/// Builds the node from the config (data directory, backends, credentials), binds the
/// listener and starts serving.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    config.validate().context("invalid configuration")?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let needs_dev = config.auth.jwt_secret.is_none()
        && !config.auth.jwt_algorithm.uses_public_key()
        || config.auth.api_keys.is_empty();
    let dev_credentials = if config.auth.dev_credentials && needs_dev {
        Some(
            DevCredentials::load_or_create(&config.data_dir)
                .context("cannot keep development credentials")?,
        )
    } else {
        None
    };
    let verifier = JwtVerifier::new(&config.auth, dev_credentials.as_ref())
        .context("cannot set up token verification")?;
    let keys = if config.auth.api_keys.is_empty() {
        dev_credentials.iter().map(|d| d.api_key.clone()).collect()
    } else {
        config.auth.api_keys.clone()
    };
    if keys.is_empty() {
        anyhow::bail!("no server API key: set auth.api_keys or enable auth.dev_credentials");
    }
    let db_path: PathBuf = config.data_dir.join(DATABASE_FILE);
    let store = SqliteStore::open(&db_path)
        .await
        .with_context(|| format!("cannot open {}", db_path.display()))?;
    let max_rooms = config.rooms.max_rooms as usize;
    let backends = Backends {
        bus: Arc::new(MemoryBus::new(MemoryBusLimits {
            // Internal topics (global moderation) come on top of the rooms.
            max_rooms: max_rooms + INTERNAL_TOPICS,
            seq_from_clock: true,
            ..MemoryBusLimits::default()
        })),
        hot: Arc::new(MemoryHotState::with_limits(
            2 * config.limits.max_connections as usize + max_rooms,
            max_rooms,
        )),
        store: Arc::new(store),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let recorder =
        recording::Recorder::start(backends.store.clone(), recording::RecorderLimits::default());
    let node = Arc::new(Node::new(
        config,
        backends,
        verifier,
        ApiKeys::new(keys),
        recorder,
    ));
    load_moderation(&node).await?;
    let filter = api::filter_in_force(&node)
        .await
        .map_err(|e| anyhow::anyhow!("invalid word filter: {e}"))?;
    tracing::info!(
        source = filter.source,
        words = filter.set.word_count(),
        "word filter loaded"
    );
    node.set_filter(filter.set);
    rooms::spawn_global_listener(node.clone())
        .await
        .context("cannot subscribe to global moderation")?;
    let app = router(node.clone(), dev_credentials.as_ref());
    let (stop_accepting, mut stop_rx) = watch::channel(false);
    let send_buffer = node.config.gateway.socket_send_buffer_bytes as usize;
    let listener =
        axum::serve::ListenerExt::tap_io(listener, move |stream: &mut tokio::net::TcpStream| {
            tune_socket(stream, send_buffer);
        });
    let serve = axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let serve_task = tokio::spawn(async move { serve.await });
    tracing::info!(addr = %local_addr, node = %node.node_id, "listening");
    Ok(RunningServer {
        node,
        local_addr,
        dev_credentials,
        stop_accepting,
        serve_task,
    })
}

/// Loads the moderation lists from the store into the node's index, dropping entries that
/// expired while the server was down.
async fn load_moderation(node: &Node) -> anyhow::Result<()> {
    let now = throng_backend::unix_ms();
    let sanctions = node
        .backends
        .store
        .all_sanctions()
        .await
        .context("cannot load moderation lists")?;
    let mut index = node.moderation.write().expect("moderation lock poisoned");
    for sanction in sanctions {
        if sanction.is_active(now) {
            index
                .upsert(sanction, now)
                .context("more moderation entries than limits.max_moderation_entries")?;
        } else {
            let store = node.backends.store.clone();
            tokio::spawn(async move {
                let _ = store
                    .delete_sanction(sanction.kind, sanction.room.as_deref(), &sanction.user)
                    .await;
            });
        }
    }
    tracing::info!(entries = index.len(), "moderation lists loaded");
    Ok(())
}

/// Socket options of every accepted connection: no Nagle delay (frames are small and
/// latency matters), and a fixed send buffer when configured.
fn tune_socket(stream: &tokio::net::TcpStream, send_buffer: usize) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    if send_buffer > 0 {
        if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(send_buffer) {
            tracing::debug!(error = %e, "cannot set SO_SNDBUF");
        }
    }
}

/// All routes of a node. `dev_credentials`: the generated ones in use, if any (the demo
/// page's token endpoint works only on them).
pub fn router(node: Arc<Node>, dev_credentials: Option<&DevCredentials>) -> axum::Router {
    let (api_routes, openapi) = api::router();
    let openapi = Arc::new(openapi);
    let api_routes = api_routes.layer(axum::middleware::from_fn_with_state(
        node.clone(),
        api::require_api_key,
    ));
    axum::Router::new()
        .route(throng_protocol::WS_PATH, get(gateway::upgrade))
        .route(
            "/v1/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(api_routes)
        .with_state(node.clone())
        .merge(demo::router(node, dev_credentials))
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Graceful drain: refuse new connections (503 `draining`), close every connection
    /// with 4000 so clients reconnect elsewhere, wait up to `gateway.drain_deadline_ms`
    /// for them to finish, then stop.
    pub async fn drain(self) -> DrainReport {
        let connections = self
            .node
            .connections
            .load(std::sync::atomic::Ordering::Acquire);
        self.node.start_drain();
        self.stop_accepting.send_replace(true);
        self.node.tasks.close();
        let deadline = Duration::from_millis(u64::from(self.node.config.gateway.drain_deadline_ms));
        let _ = tokio::time::timeout(deadline, self.node.tasks.wait()).await;
        let forced = self
            .node
            .connections
            .load(std::sync::atomic::Ordering::Acquire);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.serve_task).await;
        // Connections and API requests are done: store what the recorder still holds.
        self.node.recorder.stop().await;
        self.node.rooms.clear();
        tracing::info!(connections, forced, "drained");
        DrainReport {
            connections,
            forced,
        }
    }
}
