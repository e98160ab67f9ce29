//! Rooms hosted on this node: a registry, and one host task per room with local members.
//!
//! A room host owns a sans-IO [`throng_room::Room`]. It receives the room's messages from
//! the bus subscription, commands from connections (join, leave, pull) and the API
//! (settings, delete), and flushes frames to member connections when the room says so.
//! A host with no members stops after [`IDLE_LINGER`]; the next join starts a new one,
//! whose rings are seeded from the bus's recent history.

use crate::attributes::ATTR_KIND;
use crate::gateway::{Outbound, Outbox};
use crate::metrics as m;
use crate::moderation::{Control, CONTROL_KIND, GLOBAL_TOPIC};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use throng_backend::{Backends, BusRecv, Subscription};
use throng_protocol::{
    Codec, DeliveryMode, EncodedMessage, LeaveReason, ModerateAction, PerLane, RoomStats,
    ServerFrame,
};
use throng_room::{ConnId, Deliver, Room, RoomCounters, RoomError, RoomSettings, Snapshot};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long a room host without members stays up before it stops.
pub const IDLE_LINGER: Duration = Duration::from_secs(30);

/// Commands a room host accepts, bounded per room; senders wait when it is full, which
/// slows joiners and API calls rather than dropping them.
pub const COMMAND_QUEUE: usize = 1024;

pub enum Command {
    Join {
        conn: ConnId,
        user: Arc<str>,
        codec: Codec,
        mode: DeliveryMode,
        since: Option<u64>,
        whitelisted: bool,
        outbox: Outbox,
        reply: oneshot::Sender<Result<Snapshot, RoomError>>,
    },
    Leave {
        conn: ConnId,
    },
    Pull {
        conn: ConnId,
        since: u64,
        limit: u32,
        reply: oneshot::Sender<Result<Snapshot, RoomError>>,
    },
    /// A member acknowledged these reliable messages.
    Ack {
        conn: ConnId,
        seqs: Vec<u64>,
    },
    Settings(RoomSettings),
    /// A member set an attribute that is deleted when it leaves.
    AttributesOwned,
    Info(oneshot::Sender<HostInfo>),
    Stats(oneshot::Sender<RoomStats>),
    /// A moderation action across all rooms, forwarded by the node's global listener.
    Control(Arc<Control>),
    /// The room was destroyed: tell members, then stop.
    Delete,
}

/// What a host reports about its room.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub local_members: usize,
    pub last_seq: u64,
    pub counters: RoomCounters,
}

/// A running host, as the registry and connections see it.
pub struct RoomHandle {
    pub id: Arc<str>,
    pub commands: mpsc::Sender<Command>,
    /// Settings shared with connections, which check rate limits before publishing.
    /// Shared, not copied: a send reads them without cloning the type map.
    pub settings: RwLock<Arc<RoomSettings>>,
    /// The room's rate-limit bucket name in the hot state, built once.
    pub rate_key: String,
    /// Messages refused at the door per lane (over the room's rate), for the room's stats.
    pub refused: [AtomicU64; 3],
    generation: u64,
}

/// The room's rate-limit bucket name in the hot state.
pub fn rate_key(room: &str) -> String {
    format!("room:{room}")
}

impl RoomHandle {
    /// The room's upstream rate, read on every message (without cloning the settings).
    pub fn rate_per_sec(&self) -> u32 {
        self.settings
            .read()
            .expect("settings lock poisoned")
            .rate_per_sec
    }

    pub fn settings(&self) -> Arc<RoomSettings> {
        self.settings
            .read()
            .expect("settings lock poisoned")
            .clone()
    }
}

/// The rooms this node hosts, by id. Bounded by the configured `max_rooms`: a join that
/// would start one more host fails with `LimitReached`.
pub struct RoomRegistry {
    hosts: Mutex<HashMap<Arc<str>, Arc<RoomHandle>>>,
    next_generation: AtomicU64,
    max_rooms: usize,
}

impl RoomRegistry {
    pub fn new(max_rooms: usize) -> RoomRegistry {
        RoomRegistry {
            hosts: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            max_rooms,
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<RoomHandle>> {
        self.hosts
            .lock()
            .expect("registry lock poisoned")
            .get(id)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.hosts.lock().expect("registry lock poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The running host of a room, starting one with these settings if there is none.
    /// Returns None when the node already hosts `max_rooms` rooms.
    pub async fn get_or_start(
        self: &Arc<Self>,
        id: &str,
        settings: RoomSettings,
        backends: &Backends,
    ) -> Result<Option<Arc<RoomHandle>>, throng_backend::BackendError> {
        if let Some(handle) = self.get(id) {
            return Ok(Some(handle));
        }
        // Subscribe before reading history, so nothing published in between is missed;
        // the room ignores the duplicates this may cause (seq at or below its last).
        let subscription = backends.bus.subscribe(id).await?;
        let recent = backends
            .bus
            .recent(id, settings.recent_on_join as usize)
            .await?;
        // Reliable messages stored before (also before a restart) and within their ttl,
        // for members that resume from before them.
        let stored_at = throng_backend::unix_ms();
        let reliable = backends.store.reliable_pending(id, stored_at).await?;
        let totals = backends.hot.counters(id).await?;
        let has_attributes = !matches!(
            backends.hot.attr_since(id, 0).await?,
            throng_protocol::attrs::Since::Changes(changes) if changes.is_empty()
        );
        let mut hosts = self.hosts.lock().expect("registry lock poisoned");
        if let Some(handle) = hosts.get(id) {
            return Ok(Some(handle.clone()));
        }
        if hosts.len() >= self.max_rooms {
            return Ok(None);
        }
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let handle = Arc::new(RoomHandle {
            id: Arc::from(id),
            commands: tx,
            settings: RwLock::new(Arc::new(settings.clone())),
            rate_key: rate_key(id),
            refused: Default::default(),
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
        });
        hosts.insert(handle.id.clone(), handle.clone());
        metrics::gauge!(m::ROOMS).set(hosts.len() as f64);
        drop(hosts);
        // History for joins: control messages and windowed kinds (like counters, merged
        // notices) are not history; the stored counters seed the totals instead.
        let history = recent.into_iter().filter(|m| {
            !m.kind.starts_with('@') && (m.is_reliable() || !settings.policy(&m.kind).is_windowed())
        });
        let history: Vec<_> = history.collect();
        let mut room = Room::new(id, settings);
        let start = Instant::now();
        for message in history {
            room.insert(Arc::new(EncodedMessage::new((*message).clone())), 0);
        }
        room.seed_totals(totals);
        for (message, expires_at) in reliable {
            // The room's clock starts now, at 0.
            let expires_in = expires_at.saturating_sub(stored_at);
            room.restore_reliable(Arc::new(EncodedMessage::new(message)), expires_in);
        }
        let host = Host {
            room,
            start,
            members: HashMap::new(),
            registry: self.clone(),
            handle: handle.clone(),
            backends: backends.clone(),
            attr_notify: None,
            last_stats: StatsMark::default(),
            has_attributes,
            last_pushed: None,
        };
        tokio::spawn(host.run(rx, subscription));
        Ok(Some(handle))
    }

    /// Removes a host's entry if it is still the one registered under its id.
    fn remove_if_current(&self, handle: &RoomHandle) {
        let mut hosts = self.hosts.lock().expect("registry lock poisoned");
        if hosts
            .get(&handle.id)
            .is_some_and(|h| h.generation == handle.generation)
        {
            hosts.remove(&handle.id);
        }
        metrics::gauge!(m::ROOMS).set(hosts.len() as f64);
    }

    /// Every running host.
    pub fn all(&self) -> Vec<Arc<RoomHandle>> {
        self.hosts
            .lock()
            .expect("registry lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Stops every host (server shutdown).
    pub fn clear(&self) {
        self.hosts.lock().expect("registry lock poisoned").clear();
    }
}

/// A member connection as the host sees it.
struct Link {
    user: Arc<str>,
    outbox: Outbox,
    /// Set while a batch of this room is queued or being written on the connection;
    /// cleared by the connection's writer once the frame is written.
    busy: Arc<AtomicBool>,
}

struct Host {
    room: Room,
    start: Instant,
    members: HashMap<ConnId, Link>,
    registry: Arc<RoomRegistry>,
    handle: Arc<RoomHandle>,
    backends: Backends,
    /// The newest attribute version announced on the bus and not yet told to members,
    /// with the time to tell them: announcements are merged per flush interval.
    attr_notify: Option<(u64, Instant)>,
    /// Joins and leaves at the previous statistics, for the rates.
    last_stats: StatsMark,
    /// Whether the room has (or may have) attributes: only then can a leaving user own
    /// some to delete.
    has_attributes: bool,
    /// The statistics last pushed to members.
    last_pushed: Option<RoomStats>,
}

/// Where the counters stood at the previous statistics.
#[derive(Debug, Clone, Copy, Default)]
struct StatsMark {
    at_ms: u64,
    joins: u64,
    leaves: u64,
}

/// A frame for many members, encoded at most once per codec.
struct PerCodec {
    frame: ServerFrame,
    encoded: [Option<axum::extract::ws::Message>; 2],
}

impl PerCodec {
    fn new(frame: ServerFrame) -> PerCodec {
        PerCodec {
            frame,
            encoded: [None, None],
        }
    }

    fn message(&mut self, codec: Codec) -> axum::extract::ws::Message {
        let frame = &self.frame;
        self.encoded[codec.index()]
            .get_or_insert_with(|| crate::gateway::ws_message(codec, codec.encode_server(frame)))
            .clone()
    }
}

/// The [`Deliver`] of one flush: maps room decisions onto connection outboxes.
struct Delivery<'a> {
    members: &'a HashMap<ConnId, Link>,
    room: &'a Arc<str>,
    /// Frames of this flush already converted to WebSocket messages, by address and
    /// length: each shared frame is converted (and, for JSON, checked as UTF-8) once, even
    /// when members at different positions or codecs interleave. The room keeps every
    /// frame alive until the flush ends, so an address names one frame; the map lives for
    /// one flush and holds at most one entry per distinct frame.
    converted: HashMap<(usize, usize), axum::extract::ws::Message>,
    dropped: Vec<ConnId>,
}

impl Delivery<'_> {
    fn message_for(&mut self, codec: Codec, frame: &Bytes) -> axum::extract::ws::Message {
        self.converted
            .entry((frame.as_ptr() as usize, frame.len()))
            .or_insert_with(|| crate::gateway::ws_message(codec, frame.clone()))
            .clone()
    }
}

impl Deliver for Delivery<'_> {
    fn is_ready(&mut self, conn: ConnId) -> bool {
        self.members
            .get(&conn)
            .is_some_and(|link| !link.busy.load(Ordering::Acquire) && link.outbox.has_room())
    }

    fn deliver(&mut self, conn: ConnId, frame: &Bytes) -> bool {
        let Some(link) = self.members.get(&conn) else {
            return false;
        };
        let message = self.message_for(link.outbox.codec(), frame);
        link.busy.store(true, Ordering::Release);
        if link.outbox.try_send(Outbound::Batch {
            message,
            done: link.busy.clone(),
        }) {
            true
        } else {
            link.busy.store(false, Ordering::Release);
            false
        }
    }

    fn dropped(&mut self, conn: ConnId, frame: &Bytes) {
        if let Some(link) = self.members.get(&conn) {
            let message = self.message_for(link.outbox.codec(), frame);
            // Best effort: if the outbox is full the connection is not reading anyway;
            // it learns it left the room when it next pulls (not_joined).
            link.outbox.try_send(Outbound::Left {
                room: self.room.clone(),
                message,
            });
        }
        self.dropped.push(conn);
    }
}

impl Host {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut subscription: Subscription) {
        let mut idle_since = Some(Instant::now());
        let mut next_stats: Option<Instant> = None;
        loop {
            let interval = self.room.settings().stats_interval_ms;
            if interval == 0 || self.members.is_empty() {
                next_stats = None;
            } else if next_stats.is_none() {
                next_stats = Some(Instant::now() + Duration::from_millis(u64::from(interval)));
            }
            let flush_at = self
                .room
                .next_flush_at()
                .map(|ms| self.start + Duration::from_millis(ms));
            let linger_until = idle_since.map(|t| t + IDLE_LINGER);
            let attr_notify_at = self.attr_notify.map(|(_, at)| at);
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if self.handle_command(command) {
                        break;
                    }
                }
                received = subscription.recv() => match received {
                    BusRecv::Message(message) if message.kind == ATTR_KIND => {
                        self.has_attributes = true;
                        let version = message.body.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
                        let interval = Duration::from_millis(self.room.flush_interval_ms());
                        self.attr_notify = match self.attr_notify {
                            Some((known, at)) => Some((known.max(version), at)),
                            None => Some((version, Instant::now() + interval)),
                        };
                    }
                    BusRecv::Message(message) if message.kind == CONTROL_KIND => {
                        match serde_json::from_value::<Control>(message.body.clone()) {
                            Ok(control) => self.apply_control(&control),
                            Err(e) => tracing::warn!(room = %self.handle.id, error = %e, "malformed control message"),
                        }
                    }
                    BusRecv::Message(message) => {
                        let now = self.now();
                        self.room.insert(Arc::new(EncodedMessage::new((*message).clone())), now);
                    }
                    BusRecv::Lagged(n) => {
                        tracing::warn!(room = %self.handle.id, lost = n, "room host fell behind its bus subscription");
                        metrics::counter!(m::BUS_LAGGED).increment(n);
                    }
                    BusRecv::Closed => {
                        self.delete_members();
                        break;
                    }
                },
                _ = sleep_until_opt(flush_at) => self.flush(),
                _ = sleep_until_opt(attr_notify_at) => self.send_attr_notify(),
                _ = sleep_until_opt(next_stats) => {
                    next_stats = None;
                    self.push_stats();
                }
                _ = sleep_until_opt(linger_until) => {
                    // Leave the registry first, so new joins start a fresh host; then
                    // answer any join that raced in with a retry.
                    self.registry.remove_if_current(&self.handle);
                    commands.close();
                    while let Ok(command) = commands.try_recv() {
                        if let Command::Join { reply, .. } = command {
                            drop(reply);
                        }
                    }
                    return;
                }
            }
            idle_since = match (self.members.is_empty(), idle_since) {
                (true, None) => Some(Instant::now()),
                (true, since) => since,
                (false, _) => None,
            };
        }
        self.registry.remove_if_current(&self.handle);
    }

    /// Returns true when the host must stop.
    fn handle_command(&mut self, command: Command) -> bool {
        match command {
            Command::Join {
                conn,
                user,
                codec,
                mode,
                since,
                whitelisted,
                outbox,
                reply,
            } => {
                let result = self.room.join(conn, codec, mode, since, whitelisted);
                if result.is_ok() {
                    // A rejoin (resume) keeps the existing link, so its busy flag still
                    // covers a batch that may be in flight.
                    self.members.entry(conn).or_insert_with(|| Link {
                        user,
                        outbox,
                        busy: Arc::new(AtomicBool::new(false)),
                    });
                }
                let _ = reply.send(result);
            }
            Command::Leave { conn } => {
                self.room.leave(conn);
                if let Some(link) = self.members.remove(&conn) {
                    self.user_may_have_left(&link.user);
                }
            }
            Command::Pull {
                conn,
                since,
                limit,
                reply,
            } => {
                let _ = reply.send(self.room.pull(conn, since, limit));
            }
            Command::Ack { conn, seqs } => self.room.ack(conn, &seqs),
            Command::AttributesOwned => self.has_attributes = true,
            Command::Settings(settings) => {
                *self
                    .handle
                    .settings
                    .write()
                    .expect("settings lock poisoned") = Arc::new(settings.clone());
                self.room.set_settings(settings);
            }
            Command::Info(reply) => {
                let _ = reply.send(HostInfo {
                    local_members: self.room.n_members(),
                    last_seq: self.room.last_seq(),
                    counters: self.room.counters(),
                });
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats(false));
            }
            Command::Control(control) => self.apply_control(&control),
            Command::Delete => {
                self.delete_members();
                return true;
            }
        }
        false
    }

    /// Applies a moderation action to the local members it concerns: an event frame to
    /// each, then removal (kick, ban, blacklist) or a whitelist change.
    fn apply_control(&mut self, control: &Control) {
        let frame = ServerFrame::Moderation {
            room: (!control.global).then(|| self.handle.id.to_string()),
            action: control.action,
            user: control.user.clone(),
            until: control.until,
            reason: control.reason.clone(),
            by: control.by.clone(),
        };
        let targets: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, link)| {
                control
                    .user
                    .as_deref()
                    .is_none_or(|user| *link.user == *user)
            })
            .map(|(conn, _)| *conn)
            .collect();
        let mut event = PerCodec::new(frame);
        for conn in &targets {
            let link = &self.members[conn];
            // Best effort: a connection whose queue is full learns it from its next request.
            link.outbox
                .try_send(Outbound::Event(event.message(link.outbox.codec())));
        }
        match control.action {
            action if action.removes() => {
                let reason = if action == ModerateAction::Kick {
                    LeaveReason::Kicked
                } else {
                    LeaveReason::Banned
                };
                let mut left = PerCodec::new(ServerFrame::Left {
                    id: None,
                    room: self.handle.id.to_string(),
                    reason,
                });
                for conn in targets {
                    if let Some(link) = self.members.remove(&conn) {
                        link.outbox.try_send(Outbound::Left {
                            room: self.handle.id.clone(),
                            message: left.message(link.outbox.codec()),
                        });
                        self.user_may_have_left(&link.user);
                    }
                    self.room.leave(conn);
                }
            }
            ModerateAction::Whitelist | ModerateAction::Unwhitelist => {
                for conn in targets {
                    self.room
                        .set_whitelisted(conn, control.action == ModerateAction::Whitelist);
                }
            }
            _ => {}
        }
    }

    fn distinct_users(&self) -> u64 {
        let users: std::collections::HashSet<&str> =
            self.members.values().map(|link| &*link.user).collect();
        users.len() as u64
    }

    /// The room's statistics now; rates over the time since the previous pushed ones
    /// (`advance`: this is a push, the next rates start from now).
    fn stats(&mut self, advance: bool) -> RoomStats {
        let online = self.distinct_users();
        let counters = self.room.counters();
        let now = self.now();
        let mark = self.last_stats;
        let seconds = now.saturating_sub(mark.at_ms).max(1) as f64 / 1000.0;
        let rate = |now: u64, then: u64| ((now - then) as f64 / seconds * 10.0).round() / 10.0;
        let refused = self
            .handle
            .refused
            .each_ref()
            .map(|n| n.load(Ordering::Relaxed));
        let dropped = [0, 1, 2].map(|lane| refused[lane] + counters.skipped[lane]);
        if advance {
            self.last_stats = StatsMark {
                at_ms: now,
                joins: counters.joins,
                leaves: counters.leaves,
            };
        }
        RoomStats {
            room: self.handle.id.to_string(),
            ts: throng_backend::unix_ms(),
            online,
            connections: self.room.n_members() as u64,
            joins_per_sec: rate(counters.joins, mark.joins),
            leaves_per_sec: rate(counters.leaves, mark.leaves),
            counters: self.room.totals().clone(),
            accepted: PerLane::from_array(counters.inserted),
            dropped: PerLane::from_array(dropped),
        }
    }

    /// Sends every member the room's statistics: one frame per interval, encoded once per
    /// codec, however many members come and go. Figures that did not change since the
    /// last push are not sent again: a quiet room costs nothing.
    fn push_stats(&mut self) {
        let stats = self.stats(true);
        let unchanged = self.last_pushed.as_ref().is_some_and(|last| {
            RoomStats {
                ts: stats.ts,
                ..last.clone()
            } == stats
        });
        if unchanged {
            return;
        }
        self.last_pushed = Some(stats.clone());
        let mut frame = PerCodec::new(ServerFrame::Stats(stats));
        for link in self.members.values() {
            // Best effort: the next interval brings fresh figures anyway.
            link.outbox
                .try_send(Outbound::Event(frame.message(link.outbox.codec())));
        }
    }

    /// Tells every member the room's attributes reached a new version (merged).
    fn send_attr_notify(&mut self) {
        let Some((version, _)) = self.attr_notify.take() else {
            return;
        };
        let mut notify = PerCodec::new(ServerFrame::AttrNotify {
            room: self.handle.id.to_string(),
            version,
        });
        for link in self.members.values() {
            // Best effort: a member that misses a notify learns the version at its next one.
            link.outbox
                .try_send(Outbound::Event(notify.message(link.outbox.codec())));
        }
    }

    /// A connection of `user` left: if it was the user's last one here, delete the
    /// attributes the user set with `delete_on_leave`, and announce the change. (In a
    /// cluster the user may still be on another node; that node's leave repeats this.)
    fn user_may_have_left(&self, user: &Arc<str>) {
        if !self.has_attributes || self.members.values().any(|link| link.user == *user) {
            return;
        }
        let backends = self.backends.clone();
        let room = self.handle.id.clone();
        let limits = self.room.settings().attributes.clone();
        let user = user.to_string();
        tokio::spawn(async move {
            let write = throng_backend::AttrWrite::RemoveOwnedBy { user };
            match backends.hot.attr_write(&room, &limits, write).await {
                Ok(Ok(changes)) => {
                    if let Some(last) = changes.last() {
                        let _ = crate::attributes::announce(&backends, &room, last.version).await;
                    }
                }
                Ok(Err(e)) => tracing::warn!(room = %room, error = %e, "attribute cleanup refused"),
                Err(e) => tracing::warn!(room = %room, error = %e, "attribute cleanup failed"),
            }
        });
    }

    fn delete_members(&mut self) {
        let mut left = PerCodec::new(ServerFrame::Left {
            id: None,
            room: self.handle.id.to_string(),
            reason: LeaveReason::RoomDeleted,
        });
        for (conn, link) in self.members.drain() {
            link.outbox.try_send(Outbound::Left {
                room: self.handle.id.clone(),
                message: left.message(link.outbox.codec()),
            });
            self.room.leave(conn);
        }
    }

    fn flush(&mut self) {
        let started = std::time::Instant::now();
        let now = self.now();
        let before = self.room.counters();
        let mut delivery = Delivery {
            members: &self.members,
            room: &self.handle.id,
            converted: HashMap::new(),
            dropped: Vec::new(),
        };
        let report = self.room.flush(now, &mut delivery);
        let dropped = std::mem::take(&mut delivery.dropped);
        for conn in dropped {
            if let Some(link) = self.members.remove(&conn) {
                self.user_may_have_left(&link.user);
            }
        }
        let after = self.room.counters();
        metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(m::FRAMES_OUT).increment(report.frames);
        metrics::counter!(m::ENCODINGS).increment(report.encodings);
        metrics::counter!(m::DELIVERIES).increment(report.deliveries);
        metrics::counter!(m::NOTIFY_DROPS).increment(report.dropped_members);
        metrics::counter!(m::RELIABLE_RETRIES)
            .increment(after.reliable_retries - before.reliable_retries);
        metrics::counter!(m::RELIABLE_GAVE_UP)
            .increment(after.reliable_gave_up - before.reliable_gave_up);
        for (lane, name) in ["system", "high", "low"].into_iter().enumerate() {
            let skipped = after.skipped[lane] - before.skipped[lane];
            if skipped > 0 {
                metrics::counter!(m::SKIPPED, "priority" => name, "reason" => "ring_overflow")
                    .increment(skipped);
            }
        }
    }
}

/// Listens for moderation actions across all rooms and hands them to every room host of
/// this node (each applies them to its own members, if any).
pub async fn spawn_global_listener(
    node: Arc<crate::node::Node>,
) -> Result<(), throng_backend::BackendError> {
    let mut subscription = node.backends.bus.subscribe(GLOBAL_TOPIC).await?;
    tokio::spawn(async move {
        loop {
            match subscription.recv().await {
                BusRecv::Message(message) if message.kind == CONTROL_KIND => {
                    let control = match serde_json::from_value::<Control>(message.body.clone()) {
                        Ok(control) => Arc::new(control),
                        Err(e) => {
                            tracing::warn!(error = %e, "malformed global control message");
                            continue;
                        }
                    };
                    for handle in node.rooms.all() {
                        let _ = handle
                            .commands
                            .send(Command::Control(control.clone()))
                            .await;
                    }
                }
                BusRecv::Message(_) => {}
                BusRecv::Lagged(n) => {
                    tracing::warn!(lost = n, "global moderation listener fell behind")
                }
                BusRecv::Closed => return,
            }
        }
    });
    Ok(())
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
