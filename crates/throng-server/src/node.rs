//! The state one server process shares between its connections, rooms and API handlers.

use crate::rooms::{RoomHandle, RoomRegistry};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use throng_auth::{ApiKeys, JwtVerifier};
use throng_backend::{BackendError, Backends, RoomRecord};
use throng_config::Config;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

pub struct Node {
    pub config: Config,
    /// Distinguishes this process in connection ids and logs.
    pub node_id: String,
    pub backends: Backends,
    pub verifier: JwtVerifier,
    pub api_keys: ApiKeys,
    pub rooms: Arc<RoomRegistry>,
    /// Open WebSocket connections (bounded by `limits.max_connections`).
    pub connections: AtomicUsize,
    next_conn_id: AtomicU64,
    draining: watch::Sender<bool>,
    /// Every connection task, so a drain can wait for them.
    pub tasks: TaskTracker,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Mutes, bans and room lists, checked on every join and message. A std lock: held
    /// for a hash lookup, never across an await.
    pub moderation: std::sync::RwLock<throng_room::moderation::ModerationIndex>,
    /// The word filter in force; replaced whole (never edited) when the API changes it.
    filter: std::sync::RwLock<Arc<throng_filter::FilterSet>>,
    /// Stores accepted messages of rooms that record them, off the publish path.
    pub recorder: crate::recording::Recorder,
}

/// The outcome of looking up a room for a join.
pub enum RoomLookup {
    Found(Arc<RoomHandle>),
    Unknown,
    NodeFull,
    Failed(BackendError),
}

impl Node {
    pub fn new(
        config: Config,
        backends: Backends,
        verifier: JwtVerifier,
        api_keys: ApiKeys,
        recorder: crate::recording::Recorder,
    ) -> Node {
        let max_moderation = config.limits.max_moderation_entries as usize;
        let node_id = format!(
            "{:x}",
            (throng_backend::unix_ms() << 16) ^ u64::from(std::process::id())
        );
        Node {
            rooms: Arc::new(RoomRegistry::new(config.rooms.max_rooms as usize)),
            config,
            node_id,
            backends,
            verifier,
            api_keys,
            connections: AtomicUsize::new(0),
            next_conn_id: AtomicU64::new(1),
            draining: watch::Sender::new(false),
            tasks: TaskTracker::new(),
            metrics: crate::metrics::prometheus(),
            moderation: std::sync::RwLock::new(throng_room::moderation::ModerationIndex::new(
                max_moderation,
            )),
            filter: std::sync::RwLock::new(Arc::new(throng_filter::FilterSet::default())),
            recorder,
        }
    }

    /// The word filter in force.
    pub fn filter(&self) -> Arc<throng_filter::FilterSet> {
        self.filter.read().expect("filter lock poisoned").clone()
    }

    pub fn set_filter(&self, filter: throng_filter::FilterSet) {
        *self.filter.write().expect("filter lock poisoned") = Arc::new(filter);
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves once a drain has started.
    pub fn drain_signal(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    pub fn start_drain(&self) {
        self.draining.send_replace(true);
    }

    /// The room's host on this node, starting it (and, if `rooms.auto_create` is on,
    /// creating the room) as needed.
    pub async fn room_for_join(&self, id: &str) -> RoomLookup {
        if let Some(handle) = self.rooms.get(id) {
            return RoomLookup::Found(handle);
        }
        let record = match self.backends.store.get_room(id).await {
            Ok(Some(record)) => record,
            Ok(None) if self.config.rooms.auto_create => {
                // Joins must not be a way to fill the store: auto-creation stops at
                // `rooms.max_rooms` rooms (the server API can still create more).
                match self.backends.store.room_count().await {
                    Ok(n) if n >= u64::from(self.config.rooms.max_rooms) => {
                        return RoomLookup::NodeFull
                    }
                    Ok(_) => {}
                    Err(e) => return RoomLookup::Failed(e),
                }
                let record = RoomRecord {
                    id: id.to_owned(),
                    settings: self.config.rooms.defaults.clone(),
                    created_at: throng_backend::unix_ms(),
                };
                if let Err(e) = self.backends.store.create_room(&record).await {
                    return RoomLookup::Failed(e);
                }
                // Another node or request may have created it first with other settings.
                match self.backends.store.get_room(id).await {
                    Ok(Some(record)) => record,
                    Ok(None) => return RoomLookup::Unknown,
                    Err(e) => return RoomLookup::Failed(e),
                }
            }
            Ok(None) => return RoomLookup::Unknown,
            Err(e) => return RoomLookup::Failed(e),
        };
        match self
            .rooms
            .get_or_start(id, record.settings, &self.backends)
            .await
        {
            Ok(Some(handle)) => RoomLookup::Found(handle),
            Ok(None) => RoomLookup::NodeFull,
            Err(e) => RoomLookup::Failed(e),
        }
    }

    /// Changes a room's online count; a backend failure is logged and reads as 0.
    pub async fn online_delta(&self, room: &str, delta: i64) -> u64 {
        self.backends
            .hot
            .add_online(room, delta)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, room, "online count not updated");
                0
            })
    }

    pub async fn online(&self, room: &str) -> u64 {
        self.backends.hot.online(room).await.unwrap_or(0)
    }
}
