//! One live room on one node: its three priority rings, its local members and their
//! cursors, and the decisions of when and what to send each of them.
//!
//! The room never touches a socket. The caller feeds it messages (already sequenced by
//! the bus) with [`Room::insert`], asks [`Room::next_flush_at`] when to call
//! [`Room::flush`], and gives `flush` a [`Deliver`] that knows which connections have
//! drained their previous frame and hands frames to them.

use crate::ring::Ring;
use crate::settings::{RoomSettings, TypePolicy};
use crate::windows::{self, Slot};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use throng_protocol::codec::encode_batch;
use throng_protocol::{Codec, DeliveryMode, EncodedMessage, Priority, ServerFrame, Skipped};

/// A connection, as numbered by the gateway of this node.
pub type ConnId = u64;

/// The most messages one pull or one resuming join returns.
pub const MAX_PULL: u32 = 500;

/// The most windows (kinds, and keys of keep-latest kinds) open at once; a message that
/// would open one more is delivered as it is.
pub const MAX_OPEN_SLOTS: usize = 256;

/// How soon a room retries members that were busy at the last flush, in milliseconds.
/// A stalled member is retried at this pace until it drains or leaves; the retry only
/// checks a flag per member.
pub const RETRY_MS: u64 = 20;

/// What the gateway does for the room during a flush.
pub trait Deliver {
    /// Whether the connection has written its previous frame of this room. A connection
    /// that has not gets no new frame (backpressure without queues).
    fn is_ready(&mut self, conn: ConnId) -> bool;
    /// Hands a frame to the connection. Returns false if it could not be queued; the
    /// member's cursor then stays where it was and the frame is retried later.
    fn deliver(&mut self, conn: ConnId, frame: &Bytes) -> bool;
    /// The member was removed from the room by policy (notify-pull: it stopped pulling).
    fn dropped(&mut self, conn: ConnId, frame: &Bytes);
}

/// Why the room refused a join or pull.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the room is full ({0} members)")]
    Full(u32),
    #[error("the connection has not joined this room")]
    NotJoined,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NotifyState {
    /// When the last notify was sent and not yet answered by a pull.
    inflight_since: Option<u64>,
    /// Notifies sent since the last pull.
    unpulled: u32,
    /// When the oldest unanswered notify was sent.
    first_unpulled_at: Option<u64>,
}

#[derive(Debug, Clone)]
struct Member {
    conn: ConnId,
    codec: Codec,
    mode: DeliveryMode,
    whitelisted: bool,
    /// Next absolute ring index to send, per lane.
    cursor: [u64; 3],
    notify: NotifyState,
    reliable: ReliableTrack,
}

/// A push member's reliable messages in flight: sent (or skipped past) and not yet
/// acknowledged. Empty for nearly every member nearly all the time.
#[derive(Debug, Clone, Default)]
struct ReliableTrack {
    /// Seqs of reliable messages sent or skipped and not acknowledged.
    outstanding: Vec<u64>,
    /// Every reliable message with a seq at or below this was sent (or skipped past), or
    /// came before the member joined.
    floor: u64,
    /// Deliveries after the first of the current outstanding set.
    retries: u32,
    /// When to carry the outstanding messages again; 0 until the next flush sets it.
    retry_at: u64,
}

/// A reliable message the room keeps for members that have not acknowledged it.
#[derive(Debug, Clone)]
struct PendingReliable {
    message: Arc<EncodedMessage>,
    /// Room clock, milliseconds.
    expires_at: u64,
}

/// The size bounds of one batch frame.
#[derive(Debug, Clone, Copy)]
struct BatchLimits {
    max_messages: usize,
    max_bytes: usize,
}

/// Members with the same cursor, skip counts and codec get the same batch frame.
type BatchKey = ([u64; 3], [u64; 3], Codec);

/// Messages a join or pull returns, in seq order.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub msgs: Vec<Arc<EncodedMessage>>,
    pub skipped: Skipped,
    /// The room's latest seq that the member may read: below an open window's placeholder,
    /// whose final message comes later under its (lower) seq.
    pub seq: u64,
}

/// Counters a room keeps for metrics and the room-info API. They only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomCounters {
    /// Messages inserted, per lane.
    pub inserted: [u64; 3],
    /// Messages that fell off a ring before a member read them, summed over members, per lane.
    pub skipped: [u64; 3],
    /// Frames handed to connections (batches and notifies).
    pub frames: u64,
    /// Distinct frames encoded (one per group of members at the same position).
    pub encodings: u64,
    /// Messages carried in batch frames, summed over members.
    pub deliveries: u64,
    /// Members removed for not pulling.
    pub dropped_members: u64,
    /// Joins (resumes included) and leaves of local members.
    pub joins: u64,
    pub leaves: u64,
    /// Frames that carried unacknowledged reliable messages again.
    pub reliable_retries: u64,
    /// Reliable messages a member did not acknowledge within `max_tries` deliveries, or
    /// that the room let go at its `max_pending` bound, summed over members.
    pub reliable_gave_up: u64,
    /// Messages absorbed into an open window (aggregated, merged or superseded).
    pub absorbed: u64,
}

/// What one flush did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub frames: u64,
    pub encodings: u64,
    pub deliveries: u64,
    /// Members still behind the ring heads after this flush (busy or capped).
    pub behind: u64,
    pub dropped_members: u64,
}

#[derive(Debug)]
pub struct Room {
    id: String,
    settings: RoomSettings,
    rings: [Ring; 3],
    last_seq: u64,
    members: Vec<Member>,
    member_index: HashMap<ConnId, usize>,
    /// When the oldest message not yet flushed arrived.
    unflushed_since: Option<u64>,
    last_flush_at: u64,
    /// Members left behind by the last flush, to be retried.
    behind: u64,
    counters: RoomCounters,
    /// Open windows of aggregated, merged and keep-latest kinds.
    slots: Vec<Slot>,
    /// Running totals of aggregated kinds.
    totals: BTreeMap<String, u64>,
    /// Reliable messages within their ttl, in seq order.
    pending: VecDeque<PendingReliable>,
    /// The earliest time a member's reliable messages are due again (may be early).
    next_retry_at: Option<u64>,
}

impl Room {
    pub fn new(id: impl Into<String>, settings: RoomSettings) -> Room {
        let rings = settings.ring_sizes().map(Ring::new);
        Room {
            id: id.into(),
            settings,
            rings,
            last_seq: 0,
            members: Vec::new(),
            member_index: HashMap::new(),
            unflushed_since: None,
            last_flush_at: 0,
            behind: 0,
            counters: RoomCounters::default(),
            slots: Vec::new(),
            totals: BTreeMap::new(),
            pending: VecDeque::new(),
            next_retry_at: None,
        }
    }

    /// Running totals of the room's aggregated kinds (likes).
    pub fn totals(&self) -> &BTreeMap<String, u64> {
        &self.totals
    }

    /// Starts the running totals from the room's stored counters (a host that starts
    /// again after the room emptied, or after a restart, goes on counting from there).
    pub fn seed_totals(&mut self, totals: BTreeMap<String, u64>) {
        self.totals = totals;
    }

    /// Reliable messages the room holds for members that have not acknowledged them.
    pub fn n_pending_reliable(&self) -> usize {
        self.pending.len()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// Applies new settings; shrinking a ring evicts its oldest messages.
    pub fn set_settings(&mut self, settings: RoomSettings) {
        for (ring, size) in self.rings.iter_mut().zip(settings.ring_sizes()) {
            ring.set_capacity(size);
        }
        self.settings = settings;
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Local members (connections on this node).
    pub fn n_members(&self) -> usize {
        self.members.len()
    }

    pub fn is_member(&self, conn: ConnId) -> bool {
        self.member_index.contains_key(&conn)
    }

    pub fn counters(&self) -> RoomCounters {
        self.counters
    }

    /// How far members may read in each lane: the ring heads, or the placeholder of the
    /// earliest window still open in the lane.
    fn heads(&self) -> [u64; 3] {
        let mut heads = [
            self.rings[0].head(),
            self.rings[1].head(),
            self.rings[2].head(),
        ];
        for slot in &self.slots {
            let head = &mut heads[slot.lane.index()];
            *head = (*head).min(slot.index);
        }
        heads
    }

    /// Adds a sequenced message to its lane. Messages must arrive in seq order (the bus
    /// guarantees it); one at or below the last seq is a duplicate and is ignored, which
    /// the return value reports.
    ///
    /// Reliable messages are also kept for retries until their ttl. Messages of aggregated,
    /// merged and keep-latest kinds open or join a window (see [`crate::windows`]).
    pub fn insert(&mut self, message: Arc<EncodedMessage>, now: u64) -> bool {
        let seq = message.message.seq;
        if seq <= self.last_seq {
            return false;
        }
        self.last_seq = seq;
        let lane = message.message.priority.index();
        self.counters.inserted[lane] += 1;
        if message.message.is_reliable() {
            let ttl = u64::from(self.settings.reliable.ttl_s) * 1000;
            self.keep_reliable(message.clone(), now + ttl);
        } else if !message.message.kind.starts_with('@') {
            let policy = self.settings.policy(&message.message.kind);
            if policy.is_windowed() && self.window(policy.clone(), &message, now) {
                return true;
            }
        }
        self.rings[lane].push(message);
        self.unflushed_since.get_or_insert(now);
        true
    }

    /// Adds a message of a windowed kind to its open window, or opens one with a
    /// placeholder in the ring. Returns false when the message should go in as it is.
    fn window(&mut self, policy: TypePolicy, message: &Arc<EncodedMessage>, now: u64) -> bool {
        let key = match &policy {
            TypePolicy::Latest { key, .. } => {
                match windows::latest_key(&message.message.body, key) {
                    Some(value) => Some(value),
                    None => return false,
                }
            }
            _ => None,
        };
        let kind = &message.message.kind;
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|slot| slot.kind == *kind && slot.key == key)
        {
            windows::absorb(&mut slot.state, message.message.clone(), &mut self.totals);
            self.counters.absorbed += 1;
            return true;
        }
        if self.slots.len() >= MAX_OPEN_SLOTS {
            return false;
        }
        // The lane the message was published in (the publisher decided it from the policy).
        let lane = message.message.priority;
        let Some(state) = windows::first_state(&policy, message.message.clone(), &mut self.totals)
        else {
            return false;
        };
        let slot = Slot {
            lane,
            index: self.rings[lane.index()].head(),
            seq: message.message.seq,
            ts: message.message.ts,
            kind: kind.clone(),
            key,
            closes_at: now + u64::from(self.settings.types_window_ms),
            state,
        };
        self.rings[lane.index()].push(Arc::new(EncodedMessage::new(slot.message())));
        self.slots.push(slot);
        true
    }

    /// Closes the windows due by `now`: their final messages replace the placeholders.
    fn close_windows(&mut self, now: u64) {
        let mut i = 0;
        while i < self.slots.len() {
            if self.slots[i].closes_at > now {
                i += 1;
                continue;
            }
            let slot = self.slots.swap_remove(i);
            let message = Arc::new(EncodedMessage::new(slot.message()));
            // The placeholder may have been evicted by a full ring; the next window's
            // message carries the running total anyway.
            self.rings[slot.lane.index()].replace(slot.index, message);
            self.unflushed_since.get_or_insert(now);
        }
    }

    /// Keeps a reliable message for retries and resumes until `expires_at` (room clock).
    /// At `reliable.max_pending` the oldest is let go (the server refuses new reliable
    /// sends well before, from the durable count).
    fn keep_reliable(&mut self, message: Arc<EncodedMessage>, expires_at: u64) {
        let seq = message.message.seq;
        let at = self
            .pending
            .partition_point(|p| p.message.message.seq < seq);
        if self
            .pending
            .get(at)
            .is_some_and(|p| p.message.message.seq == seq)
        {
            return;
        }
        self.pending.insert(
            at,
            PendingReliable {
                message,
                expires_at,
            },
        );
        while self.pending.len() > self.settings.reliable.max_pending as usize {
            self.pending.pop_front();
            self.counters.reliable_gave_up += 1;
        }
    }

    /// Adds a reliable message the room did not see on its bus (stored before a restart):
    /// resuming members whose `since` is below its seq get it, like a retained message.
    pub fn restore_reliable(&mut self, message: Arc<EncodedMessage>, expires_at: u64) {
        self.keep_reliable(message, expires_at);
    }

    /// A member acknowledged reliable messages: they are not carried to it again.
    pub fn ack(&mut self, conn: ConnId, seqs: &[u64]) {
        let Some(&idx) = self.member_index.get(&conn) else {
            return;
        };
        let track = &mut self.members[idx].reliable;
        track.outstanding.retain(|seq| !seqs.contains(seq));
        if track.outstanding.is_empty() {
            track.retries = 0;
            track.retry_at = 0;
        }
    }

    /// Time between flushes for the current number of members: 0 (at once) for small
    /// rooms, else members / frame budget, kept between `min_interval_ms` and
    /// `max_interval_ms`.
    pub fn flush_interval_ms(&self) -> u64 {
        let batch = &self.settings.batch;
        let n = self.members.len() as u64;
        if n < u64::from(batch.immediate_below_members) {
            return 0;
        }
        let interval = n * 1000 / u64::from(batch.frame_budget_per_sec);
        interval.clamp(
            u64::from(batch.min_interval_ms),
            u64::from(batch.max_interval_ms),
        )
    }

    /// When [`Room::flush`] should run next, or `None` if there is nothing to send.
    pub fn next_flush_at(&self) -> Option<u64> {
        let interval = self.flush_interval_ms();
        let due_for_new = self.unflushed_since.map(|since| {
            if interval == 0 {
                since
            } else {
                (self.last_flush_at + interval).max(since)
            }
        });
        let due_for_retry = (self.behind > 0).then(|| self.last_flush_at + interval.max(RETRY_MS));
        let window_closes = self.slots.iter().map(|slot| slot.closes_at).min();
        [
            due_for_new,
            due_for_retry,
            window_closes,
            self.next_retry_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Adds a connection (or updates it, if it already joined: a rejoin is a resume) and
    /// returns what it should see first: the latest `recent_on_join` messages, or with
    /// `since` every retained message after that seq (at most [`MAX_PULL`]).
    pub fn join(
        &mut self,
        conn: ConnId,
        codec: Codec,
        mode: DeliveryMode,
        since: Option<u64>,
        whitelisted: bool,
    ) -> Result<Snapshot, RoomError> {
        let max = self.settings.max_members;
        if max > 0 && self.members.len() >= max as usize && !self.is_member(conn) {
            return Err(RoomError::Full(max));
        }
        let mut snapshot = match since {
            Some(since) => self.select_after(since, MAX_PULL),
            None => self.recent(self.settings.recent_on_join as usize),
        };
        if let Some(since) = since {
            self.add_pending_after(&mut snapshot, since);
        }
        let mut reliable = ReliableTrack {
            floor: self.last_seq,
            ..ReliableTrack::default()
        };
        if mode == DeliveryMode::Push {
            reliable.outstanding = snapshot
                .msgs
                .iter()
                .filter(|m| m.message.is_reliable())
                .map(|m| m.message.seq)
                .collect();
            if !reliable.outstanding.is_empty() {
                // The next flush sets the retry time.
                self.next_retry_at = Some(0);
            }
        }
        let member = Member {
            conn,
            codec,
            mode,
            whitelisted,
            cursor: self.heads(),
            notify: NotifyState::default(),
            reliable,
        };
        self.counters.joins += 1;
        match self.member_index.get(&conn) {
            Some(&idx) => self.members[idx] = member,
            None => {
                self.member_index.insert(conn, self.members.len());
                self.members.push(member);
            }
        }
        Ok(snapshot)
    }

    /// Marks a member as whitelisted (never dropped by the notify-pull policy) or not.
    pub fn set_whitelisted(&mut self, conn: ConnId, whitelisted: bool) {
        if let Some(&idx) = self.member_index.get(&conn) {
            self.members[idx].whitelisted = whitelisted;
        }
    }

    /// Removes a connection; returns whether it was a member.
    pub fn leave(&mut self, conn: ConnId) -> bool {
        let Some(idx) = self.member_index.remove(&conn) else {
            return false;
        };
        self.counters.leaves += 1;
        self.members.swap_remove(idx);
        if let Some(moved) = self.members.get(idx) {
            self.member_index.insert(moved.conn, idx);
        }
        true
    }

    /// The latest `n` messages across lanes, in seq order.
    /// Open windows are left out (see [`Room::readable`]).
    fn recent(&self, n: usize) -> Snapshot {
        let heads = self.heads();
        let mut msgs: Vec<Arc<EncodedMessage>> = (0..3)
            .flat_map(|lane| self.readable(lane, 0, heads).rev().take(n).cloned())
            .collect();
        msgs.sort_unstable_by_key(|m| m.message.seq);
        let excess = msgs.len().saturating_sub(n);
        msgs.drain(..excess);
        Snapshot {
            msgs,
            skipped: Skipped::default(),
            seq: upto_at(&self.rings, heads, self.last_seq),
        }
    }

    /// A lane's retained messages from absolute index `from` up to `heads`: an open
    /// window's placeholder and what follows it are not readable yet (they come in a
    /// batch once the window closes, with the window's final content under the same seq).
    fn readable(
        &self,
        lane: usize,
        from: u64,
        heads: [u64; 3],
    ) -> impl DoubleEndedIterator<Item = &Arc<EncodedMessage>> + ExactSizeIterator {
        let ring = &self.rings[lane];
        let start = from.max(ring.base());
        ring.range_from(from)
            .take(heads[lane].saturating_sub(start) as usize)
    }

    /// Adds the reliable messages after `since` that the snapshot lacks (they fell off the
    /// ring, or were stored before a restart), so a resuming member gets them.
    /// At most [`MAX_PULL`] are added, the newest; the rest count as skipped system
    /// messages, like anything else a capped reply leaves out.
    fn add_pending_after(&self, snapshot: &mut Snapshot, since: u64) {
        let start = self
            .pending
            .partition_point(|p| p.message.message.seq <= since);
        let retained = snapshot.msgs.len();
        let missing: Vec<Arc<EncodedMessage>> = self
            .pending
            .range(start..)
            .filter(|p| {
                snapshot.msgs[..retained]
                    .binary_search_by_key(&p.message.message.seq, |m| m.message.seq)
                    .is_err()
            })
            .map(|p| p.message.clone())
            .collect();
        if missing.is_empty() {
            return;
        }
        // The ring already counted the ones it evicted as skipped: those added back are
        // not, those left out that it never held (stored before a restart) are.
        let ring = &self.rings[Priority::System.index()];
        let (omitted, kept) = missing.split_at(missing.len().saturating_sub(MAX_PULL as usize));
        let mut skipped = snapshot.skipped.system;
        skipped += omitted
            .iter()
            .filter(|m| !ring.was_evicted(m.message.seq))
            .count() as u64;
        skipped = skipped.saturating_sub(
            kept.iter()
                .filter(|m| ring.was_evicted(m.message.seq))
                .count() as u64,
        );
        snapshot.skipped.system = skipped;
        snapshot.msgs.extend(kept.iter().cloned());
        snapshot.msgs.sort_unstable_by_key(|m| m.message.seq);
    }

    /// Retained messages with seq > `since`, at most `limit`, keeping higher lanes first
    /// and the newest within a lane; everything else after `since` counts as skipped.
    fn select_after(&self, since: u64, limit: u32) -> Snapshot {
        let heads = self.heads();
        let mut budget = limit as usize;
        let mut msgs = Vec::new();
        let mut skipped = Skipped::default();
        for priority in Priority::ALL {
            let ring = &self.rings[priority.index()];
            skipped.add(priority, ring.evicted_after_seq(since));
            let candidates = self.readable(priority.index(), ring.index_after_seq(since), heads);
            let n = candidates.len();
            let take = n.min(budget);
            skipped.add(priority, (n - take) as u64);
            msgs.extend(candidates.skip(n - take).cloned());
            budget -= take;
        }
        msgs.sort_unstable_by_key(|m| m.message.seq);
        Snapshot {
            msgs,
            skipped,
            seq: upto_at(&self.rings, heads, self.last_seq),
        }
    }

    /// Answers a member's pull: see [`Room::select_after`]. Clears its notify marks.
    pub fn pull(&mut self, conn: ConnId, since: u64, limit: u32) -> Result<Snapshot, RoomError> {
        let idx = *self.member_index.get(&conn).ok_or(RoomError::NotJoined)?;
        let snapshot = self.select_after(since, limit.clamp(1, MAX_PULL));
        let heads = self.heads();
        let member = &mut self.members[idx];
        member.notify = NotifyState::default();
        if member.mode == DeliveryMode::Notify {
            member.cursor = heads;
        }
        Ok(snapshot)
    }

    /// Sends what is due: batches to push members that are ready, notifies to notify
    /// members, and drops notify members that stopped pulling.
    pub fn flush(&mut self, now: u64, out: &mut impl Deliver) -> FlushReport {
        self.close_windows(now);
        self.pending.retain(|p| p.expires_at > now);
        let heads = self.heads();
        let retry_ms = u64::from(self.settings.reliable.retry_ms);
        let max_tries = self.settings.reliable.max_tries;
        let mut next_retry_at: Option<u64> = None;
        let mut report = FlushReport::default();
        // Frames built in this flush, by (cursor, skipped, codec): members at the same
        // position share one encoding.
        let mut batches: HashMap<BatchKey, (Bytes, [u64; 3], u64)> = HashMap::new();
        let mut notify_frames: [Option<Bytes>; 2] = [None, None];
        let mut dropped_frames: [Option<Bytes>; 2] = [None, None];
        let mut to_drop = Vec::new();
        let notify = self.settings.notify.clone();
        let limits = BatchLimits {
            max_messages: self.settings.batch.max_messages as usize,
            max_bytes: self.settings.batch.max_bytes as usize,
        };

        for member in &mut self.members {
            if member.mode == DeliveryMode::Push && !member.reliable.outstanding.is_empty() {
                let track = &mut member.reliable;
                if track.retry_at == 0 {
                    track.retry_at = now + retry_ms;
                }
                if now >= track.retry_at {
                    if track.retries + 1 >= max_tries {
                        self.counters.reliable_gave_up += track.outstanding.len() as u64;
                        *track = ReliableTrack {
                            floor: track.floor,
                            ..ReliableTrack::default()
                        };
                    } else if out.is_ready(member.conn) {
                        let pending = &self.pending;
                        track.outstanding.retain(|seq| {
                            pending
                                .binary_search_by_key(seq, |p| p.message.message.seq)
                                .is_ok()
                        });
                        let again: Vec<&EncodedMessage> = track
                            .outstanding
                            .iter()
                            .filter_map(|seq| {
                                pending
                                    .binary_search_by_key(seq, |p| p.message.message.seq)
                                    .ok()
                                    .map(|i| pending[i].message.as_ref())
                            })
                            .collect();
                        if again.is_empty() {
                            track.retries = 0;
                            track.retry_at = 0;
                        } else {
                            let upto = upto_at(&self.rings, member.cursor, self.last_seq);
                            let frame = encode_batch(
                                member.codec,
                                &self.id,
                                again.into_iter(),
                                Skipped::default(),
                                upto,
                            );
                            report.encodings += 1;
                            if out.deliver(member.conn, &frame) {
                                report.frames += 1;
                                self.counters.reliable_retries += 1;
                                track.retries += 1;
                                track.retry_at = now + retry_ms;
                                next_retry_at = Some(
                                    next_retry_at.map_or(track.retry_at, |t| t.min(track.retry_at)),
                                );
                                if member.cursor != heads {
                                    report.behind += 1;
                                }
                                continue;
                            }
                        }
                    }
                }
                if !member.reliable.outstanding.is_empty() {
                    let at = member.reliable.retry_at;
                    next_retry_at = Some(next_retry_at.map_or(at, |t| t.min(at)));
                }
            }
            if member.cursor == heads {
                continue;
            }
            match member.mode {
                DeliveryMode::Push => {
                    if !out.is_ready(member.conn) {
                        report.behind += 1;
                        continue;
                    }
                    let mut skipped = [0u64; 3];
                    for ((cursor, skip), ring) in
                        member.cursor.iter_mut().zip(&mut skipped).zip(&self.rings)
                    {
                        if *cursor < ring.base() {
                            *skip = ring.base() - *cursor;
                            *cursor = ring.base();
                        }
                    }
                    let key = (member.cursor, skipped, member.codec);
                    let (frame, next_cursor, upto) = batches.entry(key).or_insert_with(|| {
                        report.encodings += 1;
                        build_batch(
                            &self.id,
                            &self.rings,
                            member.cursor,
                            heads,
                            skipped,
                            member.codec,
                            limits,
                            self.last_seq,
                        )
                    });
                    for (total, skip) in self.counters.skipped.iter_mut().zip(skipped) {
                        *total += skip;
                    }
                    if out.deliver(member.conn, frame) {
                        report.frames += 1;
                        report.deliveries += next_cursor
                            .iter()
                            .zip(member.cursor)
                            .map(|(n, c)| n - c)
                            .sum::<u64>();
                        member.cursor = *next_cursor;
                        if member.cursor != heads {
                            report.behind += 1;
                        }
                        // Reliable messages up to the batch's `upto` were sent in it or
                        // skipped: either way they wait for this member's ack now.
                        let track = &mut member.reliable;
                        // Nearly always false: only a batch that passed a new reliable
                        // message looks further.
                        let pending_after_floor = self
                            .pending
                            .back()
                            .is_some_and(|p| p.message.message.seq > track.floor);
                        if !pending_after_floor {
                            track.floor = track.floor.max(*upto);
                        } else if *upto > track.floor {
                            let from = self
                                .pending
                                .partition_point(|p| p.message.message.seq <= track.floor);
                            let was_empty = track.outstanding.is_empty();
                            track.outstanding.extend(
                                self.pending
                                    .range(from..)
                                    .map(|p| p.message.message.seq)
                                    .take_while(|seq| seq <= upto),
                            );
                            if was_empty && !track.outstanding.is_empty() {
                                track.retries = 0;
                                track.retry_at = now + retry_ms;
                                next_retry_at = Some(
                                    next_retry_at.map_or(track.retry_at, |t| t.min(track.retry_at)),
                                );
                            }
                            track.floor = *upto;
                        }
                    } else {
                        report.behind += 1;
                    }
                }
                DeliveryMode::Notify => {
                    let state = &mut member.notify;
                    let stale = state.unpulled >= notify.drop_after_notifies
                        || state.first_unpulled_at.is_some_and(|t| {
                            now.saturating_sub(t) >= u64::from(notify.drop_after_ms)
                        });
                    if stale && !member.whitelisted {
                        to_drop.push((member.conn, member.codec));
                        continue;
                    }
                    if state
                        .inflight_since
                        .is_some_and(|t| now.saturating_sub(t) < u64::from(notify.inflight_ms))
                    {
                        continue;
                    }
                    if !out.is_ready(member.conn) {
                        continue;
                    }
                    let frame = notify_frames[member.codec.index()].get_or_insert_with(|| {
                        report.encodings += 1;
                        member.codec.encode_server(&ServerFrame::Notify {
                            room: self.id.clone(),
                            seq: upto_at(&self.rings, heads, self.last_seq),
                        })
                    });
                    if out.deliver(member.conn, frame) {
                        report.frames += 1;
                        state.inflight_since = Some(now);
                        state.unpulled += 1;
                        state.first_unpulled_at.get_or_insert(now);
                        // The cursor marks what the member has been told about.
                        member.cursor = heads;
                    }
                }
            }
        }
        for (conn, codec) in to_drop {
            let frame = dropped_frames[codec.index()].get_or_insert_with(|| {
                codec.encode_server(&ServerFrame::Left {
                    id: None,
                    room: self.id.clone(),
                    reason: throng_protocol::LeaveReason::NotPulling,
                })
            });
            out.dropped(conn, frame);
            self.leave(conn);
            report.dropped_members += 1;
        }
        self.counters.frames += report.frames;
        self.counters.encodings += report.encodings;
        self.counters.deliveries += report.deliveries;
        self.counters.dropped_members += report.dropped_members;
        self.unflushed_since = None;
        self.last_flush_at = now;
        self.behind = report.behind;
        self.next_retry_at = next_retry_at;
        report
    }
}

/// Builds one batch from `cursor`: system first, then high, then low, at most
/// `max_messages`, ordered by seq inside the frame, with its `upto` resume position.
/// Reads each lane up to `heads` (an open window stops a lane). Returns the frame, the
/// cursor after it and its `upto`.
#[allow(clippy::too_many_arguments)]
fn build_batch(
    room: &str,
    rings: &[Ring; 3],
    cursor: [u64; 3],
    heads: [u64; 3],
    skipped: [u64; 3],
    codec: Codec,
    limits: BatchLimits,
    last_seq: u64,
) -> (Bytes, [u64; 3], u64) {
    let mut picked: Vec<&Arc<EncodedMessage>> = Vec::new();
    let mut bytes = 0usize;
    let mut next = cursor;
    for lane in 0..3 {
        let before = picked.len();
        let start = cursor[lane].max(rings[lane].base());
        let readable = heads[lane].saturating_sub(start) as usize;
        for message in rings[lane].range_from(cursor[lane]).take(readable) {
            let size = message.bytes(codec).len() + 1;
            let full = picked.len() >= limits.max_messages
                || (!picked.is_empty() && bytes + size > limits.max_bytes);
            if full {
                break;
            }
            bytes += size;
            picked.push(message);
        }
        next[lane] = cursor[lane].max(rings[lane].base()) + (picked.len() - before) as u64;
    }
    picked.sort_unstable_by_key(|m| m.message.seq);
    let upto = upto_at(rings, next, last_seq);
    let skipped = Skipped {
        system: skipped[0],
        high: skipped[1],
        low: skipped[2],
    };
    let frame = encode_batch(
        codec,
        room,
        picked.into_iter().map(|m| m.as_ref()),
        skipped,
        upto,
    );
    (frame, next, upto)
}

/// The resume position of a member at `cursor`: everything below the first message still
/// waiting in any lane has been sent or skipped; with every lane drained, everything up to
/// the room's last seq has.
fn upto_at(rings: &[Ring; 3], cursor: [u64; 3], last_seq: u64) -> u64 {
    (0..3)
        .filter_map(|lane| {
            rings[lane]
                .range_from(cursor[lane])
                .next()
                .map(|m| m.message.seq - 1)
        })
        .min()
        .unwrap_or(last_seq)
}
