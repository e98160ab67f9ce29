//! What the client knows about each room it joined: mode, seen seqs, resume position and
//! automatic pulls. Plain values, no IO; the connection task feeds it frames.
//!
//! # Two positions per room
//!
//! - [`RoomState::last_seq`] is the highest seq the app received in the room, counting the
//!   `joined.seq` of a first join (a join without `since`), because the room's history
//!   before the join is not something the client "missed". It is what
//!   [`crate::Client::last_seq`] reports.
//! - [`RoomState::resume_since`] is the `since` the SDK sends when it re-joins after a
//!   reconnect and when it pulls automatically. It is the highest seq `S` such that no
//!   message with seq `≤ S` can still reach this client: each one either arrived or was
//!   given up by the server (reported in `skipped`). It is the dedup window's floor.
//!
//! They differ because of priority lanes. A connection that is behind gets system
//! messages first, then high, then low, so when the connection drops, the highest seq
//! received may be a high message while older low messages were still on their way.
//! Resuming from `last_seq` would lose those; resuming from `resume_since` asks for
//! them, and the dedup window drops whatever in the answer had already arrived.
//!
//! `resume_since` rises when:
//! - a `joined` reply arrives, to its `seq`: the server starts pushing after that seq,
//!   and the reply itself carried (or counted as skipped) everything the client asked
//!   for before it;
//! - seqs arrive without gaps (the window's floor follows them);
//! - a `batch` arrives with `upto`: the server states that every message at or below it
//!   has been sent or counted as skipped;
//! - a low-priority message with seq `s` arrives in a `batch` (for servers that do not
//!   send `upto`): the server only sends the low lane once the system and high lanes are
//!   drained, so nothing at or below `s` is still coming;
//! - in notify mode, a `pulled` reply to a pull from at or below the floor arrives, to
//!   its `seq`: notify-mode rooms get nothing but what they pull, and the reply carried
//!   (or counted as skipped) everything up to that seq;
//! - seqs slide out of the dedup window ([`crate::dedup::WINDOW`] behind the highest).
//!
//! A `pulled` reply in push mode moves nothing but the seen seqs: a capped pull leaves
//! out messages that batches will still deliver.
//!
//! # Reliable messages
//!
//! A message with an `id` is reliable: the server carries it again, under its original
//! seq, until this client acknowledges it, and gives it again to a resuming join while it
//! is retained. Besides the seq window each room keeps an [`IdWindow`]; a message is new
//! only when neither its seq nor its id was seen. Both windows record every message
//! (a repeat's seq fills its slot in the seq window, so a repeat under a seq not seen
//! before is no gap), and a repeat raises neither `last_seq` nor `resume_since` beyond
//! what its seq proves, and never lowers them: it may come with a seq older than messages
//! already delivered.

use crate::dedup::{IdWindow, SeqWindow};
use std::collections::HashMap;
use throng_protocol::{DeliveryMode, Message, Priority};

/// The most rooms one client tracks. A server's own per-connection limit
/// (`too_many_rooms`) is normally far lower; this bound only keeps the SDK's memory
/// bounded whatever the server allows. Policy at the bound: `join` of one more room
/// fails with [`crate::ClientError::TooManyRooms`].
pub const MAX_ROOMS: usize = 1024;

/// One joined room.
#[derive(Debug, Clone)]
pub struct RoomState {
    mode: DeliveryMode,
    window: SeqWindow,
    /// Ids of recent reliable messages, which the server may carry again.
    reliable_ids: IdWindow,
    last_seq: Option<u64>,
    /// An automatic pull is waiting for its reply (at most one per room).
    auto_pull_in_flight: bool,
    /// The highest `notify.seq` that came while a pull was in flight; if the reply stops
    /// short of it, the SDK pulls again.
    notified_during_pull: u64,
}

impl RoomState {
    fn new(mode: DeliveryMode) -> RoomState {
        RoomState {
            mode,
            window: SeqWindow::new(),
            reliable_ids: IdWindow::default(),
            last_seq: None,
            auto_pull_in_flight: false,
            notified_during_pull: 0,
        }
    }

    pub fn mode(&self) -> DeliveryMode {
        self.mode
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    pub fn resume_since(&self) -> u64 {
        self.window.floor()
    }

    fn raise_last_seq(&mut self, seq: u64) {
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
    }

    /// Records `message` in both windows and returns whether it is new: neither its seq
    /// nor (for a reliable message) its id was seen before.
    fn note(&mut self, message: &Message) -> bool {
        // Both windows record it, whichever of them already knew it.
        let new_seq = self.window.insert(message.seq);
        let new_id = message
            .id
            .as_deref()
            .is_none_or(|id| self.reliable_ids.insert(id));
        new_seq && new_id
    }

    /// Records the messages and keeps those not seen before, in their order.
    fn take_new(&mut self, msgs: Vec<Message>) -> Vec<Message> {
        let fresh: Vec<Message> = msgs.into_iter().filter(|m| self.note(m)).collect();
        if let Some(highest) = fresh.iter().map(|m| m.seq).max() {
            self.raise_last_seq(highest);
        }
        fresh
    }

    /// Records the messages as seen without filtering them (replies the app asked for:
    /// they were received, so they count for `last_seq` even when seen before).
    fn record(&mut self, msgs: &[Message]) {
        for message in msgs {
            self.note(message);
            self.raise_last_seq(message.seq);
        }
    }
}

/// The highest seq of a low-priority message among `msgs`.
fn highest_low_seq(msgs: &[Message]) -> Option<u64> {
    msgs.iter()
        .filter(|m| m.priority == Priority::Low)
        .map(|m| m.seq)
        .max()
}

/// A `joined` reply, as the room book needs it.
#[derive(Debug, Clone)]
pub struct JoinedReply {
    pub room: String,
    pub mode: DeliveryMode,
    /// The room's latest seq when the server processed the join.
    pub seq: u64,
    pub msgs: Vec<Message>,
    /// Whether the join carried `since` (a resume) rather than asking for the latest
    /// messages.
    pub resumed: bool,
}

/// Every room the client joined, bounded by [`MAX_ROOMS`].
#[derive(Debug, Clone)]
pub struct RoomBook {
    rooms: HashMap<String, RoomState>,
    limit: usize,
}

impl Default for RoomBook {
    fn default() -> Self {
        RoomBook::new(MAX_ROOMS)
    }
}

impl RoomBook {
    pub fn new(limit: usize) -> RoomBook {
        RoomBook {
            rooms: HashMap::new(),
            limit,
        }
    }

    pub fn get(&self, room: &str) -> Option<&RoomState> {
        self.rooms.get(room)
    }

    pub fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a join of `room` may be sent: it is joined already (a rejoin) or there is
    /// space for one more room.
    pub fn can_join(&self, room: &str) -> bool {
        self.contains(room) || self.rooms.len() < self.limit
    }

    pub fn last_seq(&self, room: &str) -> Option<u64> {
        self.rooms.get(room).and_then(RoomState::last_seq)
    }

    pub fn resume_since(&self, room: &str) -> Option<u64> {
        self.rooms.get(room).map(RoomState::resume_since)
    }

    /// The `since` to put in a join the app asked for: a room already joined is resumed
    /// (so the reply holds only what the client has not seen); a new room gets none.
    pub fn since_for_join(&self, room: &str) -> Option<u64> {
        self.resume_since(room)
    }

    /// Joined rooms in name order, each with what a resuming join sends.
    pub fn resume_plan(&self) -> Vec<(String, DeliveryMode, u64)> {
        let mut plan: Vec<(String, DeliveryMode, u64)> = self
            .rooms
            .iter()
            .map(|(name, state)| (name.clone(), state.mode, state.resume_since()))
            .collect();
        plan.sort_by(|a, b| a.0.cmp(&b.0));
        plan
    }

    pub fn remove(&mut self, room: &str) -> bool {
        self.rooms.remove(room).is_some()
    }

    /// Applies a `joined` reply and returns its messages that were not seen before, or
    /// `None` when the room is new and the book is full.
    pub fn apply_joined(&mut self, reply: JoinedReply) -> Option<Vec<Message>> {
        if !self.can_join(&reply.room) {
            return None;
        }
        let state = self
            .rooms
            .entry(reply.room)
            .or_insert_with(|| RoomState::new(reply.mode));
        state.mode = reply.mode;
        let fresh = state.take_new(reply.msgs);
        if !reply.resumed {
            state.raise_last_seq(reply.seq);
        }
        state.window.settle_through(reply.seq);
        Some(fresh)
    }

    /// Applies a pushed `batch` and its `upto`; returns the messages not seen before, or
    /// `None` when the room is not joined (a batch already in flight when the app left).
    pub fn apply_batch(
        &mut self,
        room: &str,
        msgs: Vec<Message>,
        upto: Option<u64>,
    ) -> Option<Vec<Message>> {
        let state = self.rooms.get_mut(room)?;
        let settled = upto.or_else(|| highest_low_seq(&msgs));
        let fresh = state.take_new(msgs);
        if let Some(settled) = settled {
            state.window.settle_through(settled);
        }
        Some(fresh)
    }

    /// Applies a `pulled` reply to a pull from `since`. With `filter` (automatic pulls)
    /// returns only messages not seen before; without (the app's own pulls) records the
    /// messages and returns them all. `None` when the room is not joined; the messages
    /// are then returned unrecorded only when not filtering.
    pub fn apply_pulled(
        &mut self,
        room: &str,
        since: u64,
        seq: u64,
        msgs: Vec<Message>,
        filter: bool,
    ) -> Option<Vec<Message>> {
        let Some(state) = self.rooms.get_mut(room) else {
            return (!filter).then_some(msgs);
        };
        let covers_from_floor = since <= state.resume_since();
        let out = if filter {
            state.take_new(msgs)
        } else {
            state.record(&msgs);
            msgs
        };
        if state.mode == DeliveryMode::Notify && covers_from_floor {
            state.window.settle_through(seq);
        }
        Some(out)
    }

    /// A `notify` arrived. Returns the `since` of an automatic pull to send now, or
    /// `None` if one is already in flight (its reply is checked against this seq) or the
    /// room is not joined.
    pub fn start_auto_pull(&mut self, room: &str, notify_seq: u64) -> Option<u64> {
        let state = self.rooms.get_mut(room)?;
        if state.auto_pull_in_flight {
            state.notified_during_pull = state.notified_during_pull.max(notify_seq);
            return None;
        }
        state.auto_pull_in_flight = true;
        state.notified_during_pull = 0;
        Some(state.resume_since())
    }

    /// The reply to an automatic pull arrived (after [`RoomBook::apply_pulled`]). Returns
    /// the `since` of another pull when a notify came meanwhile for messages beyond the
    /// reply.
    pub fn finish_auto_pull(&mut self, room: &str, pulled_seq: u64) -> Option<u64> {
        let state = self.rooms.get_mut(room)?;
        state.auto_pull_in_flight = false;
        if state.notified_during_pull > pulled_seq {
            state.auto_pull_in_flight = true;
            state.notified_during_pull = 0;
            return Some(state.resume_since());
        }
        None
    }

    /// An automatic pull failed (error reply or lost connection); the next notify
    /// starts a new one.
    pub fn abandon_auto_pull(&mut self, room: &str) {
        if let Some(state) = self.rooms.get_mut(room) {
            state.auto_pull_in_flight = false;
            state.notified_during_pull = 0;
        }
    }

    /// The connection was lost: no automatic pull is in flight any more.
    pub fn abandon_all_auto_pulls(&mut self) {
        for state in self.rooms.values_mut() {
            state.auto_pull_in_flight = false;
            state.notified_during_pull = 0;
        }
    }
}

#[cfg(test)]
mod tests;
