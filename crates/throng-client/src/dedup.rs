//! Per-room windows of what was seen recently, to drop messages delivered twice: every
//! message by seq ([`SeqWindow`]), reliable messages also by id ([`IdWindow`]).
//!
//! Why not "drop what is not above the highest seq": seqs rise within each priority lane,
//! but a connection that is behind gets the system lane first, then high, then low, so a
//! later batch can legitimately carry a lower seq than an earlier one. The window instead
//! remembers exactly which of the last [`WINDOW`] seqs arrived.
//!
//! The window is a ring of [`WINDOW`] bits (512 bytes per room, whatever the traffic)
//! covering `(top - WINDOW, top]`, plus a `floor`: every seq at or below the floor counts
//! as seen. The floor rises on its own past seqs that slide out of the bit range, past
//! every run of consecutive seen seqs, and to positions the caller knows are settled
//! (see [`SeqWindow::settle_through`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// How many recent seqs the window remembers individually.
pub const WINDOW: u64 = 4096;

/// How many reliable message ids a room remembers (see [`IdWindow`]).
pub const ID_WINDOW: usize = 4096;

const WORDS: usize = (WINDOW / 64) as usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqWindow {
    /// Bit `seq % WINDOW` is set when `seq`, within `(top - WINDOW, top]`, was seen.
    bits: [u64; WORDS],
    /// The highest seq recorded in `bits` (0 before any).
    top: u64,
    /// Every seq at or below this counts as seen. Always at least `top - WINDOW`.
    floor: u64,
}

impl Default for SeqWindow {
    fn default() -> Self {
        SeqWindow::new()
    }
}

impl SeqWindow {
    /// An empty window. Seqs start at 1, so seq 0 counts as seen.
    pub fn new() -> SeqWindow {
        SeqWindow {
            bits: [0; WORDS],
            top: 0,
            floor: 0,
        }
    }

    /// Every seq at or below this counts as seen; the SDK resumes from here.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The highest seq ever inserted (0 before any).
    pub fn top(&self) -> u64 {
        self.top
    }

    pub fn contains(&self, seq: u64) -> bool {
        seq <= self.floor || (seq <= self.top && self.bit(seq))
    }

    /// Records `seq`; returns false if it was already seen (a duplicate to drop).
    pub fn insert(&mut self, seq: u64) -> bool {
        if self.contains(seq) {
            return false;
        }
        if seq > self.top {
            if seq - self.top >= WINDOW {
                self.bits = [0; WORDS];
            } else {
                // The slots of (top, seq] last held seqs WINDOW lower; forget them.
                for stale in self.top + 1..=seq {
                    self.clear_bit(stale);
                }
            }
            self.top = seq;
            self.floor = self.floor.max(seq.saturating_sub(WINDOW));
        }
        self.set_bit(seq);
        self.advance_floor();
        true
    }

    /// Declares every seq at or below `seq` seen: the caller knows none of them can still
    /// arrive (see `RoomState` for when that holds).
    pub fn settle_through(&mut self, seq: u64) {
        if seq > self.floor {
            self.floor = seq;
            self.advance_floor();
        }
    }

    /// Moves the floor over seen seqs right above it, so that without gaps the floor
    /// follows the highest seq.
    fn advance_floor(&mut self) {
        while self.floor < self.top && self.bit(self.floor + 1) {
            self.floor += 1;
        }
    }

    fn slot(seq: u64) -> (usize, u64) {
        let index = seq % WINDOW;
        ((index / 64) as usize, 1u64 << (index % 64))
    }

    fn bit(&self, seq: u64) -> bool {
        let (word, mask) = Self::slot(seq);
        self.bits[word] & mask != 0
    }

    fn set_bit(&mut self, seq: u64) {
        let (word, mask) = Self::slot(seq);
        self.bits[word] |= mask;
    }

    fn clear_bit(&mut self, seq: u64) {
        let (word, mask) = Self::slot(seq);
        self.bits[word] &= !mask;
    }
}

/// The ids of the last [`ID_WINDOW`] reliable messages of a room, by arrival order.
///
/// The server carries a reliable message again (up to `reliable.max_tries` deliveries, and
/// to a member that resumes) under the same id until the member acknowledges it, so its
/// id, not only its seq, tells a repeat from a new message. Repeats come within seconds
/// or right after a reconnect, so remembering the last few thousand ids is enough.
///
/// Bound: at most `capacity` ids (each at most 64 bytes on the wire), stored once and
/// shared by the set and the arrival ring. Policy at the bound: the id that arrived
/// longest ago is forgotten; a repeat of it would then count as new, but it is older than
/// `capacity` other reliable messages of the room, far beyond any retry or resume.
/// Nothing is allocated until the first reliable message.
#[derive(Debug, Clone)]
pub struct IdWindow {
    seen: HashSet<Arc<str>>,
    /// The same ids as `seen`, oldest first.
    arrival_order: VecDeque<Arc<str>>,
    capacity: usize,
}

impl Default for IdWindow {
    fn default() -> Self {
        IdWindow::new(ID_WINDOW)
    }
}

impl IdWindow {
    /// An empty window remembering at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> IdWindow {
        IdWindow {
            seen: HashSet::new(),
            arrival_order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// Records `id`; returns false if it is still remembered (a repeat to drop). A repeat
    /// does not refresh the id's place: its first arrival is what ages it out.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.arrival_order.len() == self.capacity {
            if let Some(oldest) = self.arrival_order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.seen.insert(Arc::clone(&id));
        self.arrival_order.push_back(id);
        true
    }

    pub fn len(&self) -> usize {
        self.arrival_order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arrival_order.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a scenario: insert a seq (expecting new or duplicate), or settle.
    enum Step {
        New(u64),
        Dup(u64),
        Settle(u64),
    }
    use Step::*;

    /// Runs the steps on a fresh window and checks the floor at the end.
    fn check(steps: &[Step], expect_floor: u64) {
        let mut window = SeqWindow::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                New(seq) => assert!(window.insert(seq), "step {i}: {seq} should be new"),
                Dup(seq) => assert!(!window.insert(seq), "step {i}: {seq} should be a duplicate"),
                Settle(seq) => window.settle_through(seq),
            }
        }
        assert_eq!(window.floor(), expect_floor, "floor");
    }

    #[test]
    fn scenarios() {
        // In order: the floor follows the highest seq.
        check(&[New(1), New(2), New(3), Dup(2), Dup(3)], 3);
        // Seq 0 never arrives from a server and counts as seen.
        check(&[Dup(0), New(1)], 1);
        // A gap holds the floor; filling it lets the floor jump over the run.
        check(&[New(1), New(3), New(4), Dup(4)], 1);
        check(&[New(1), New(3), New(4), New(2), Dup(2), Dup(3)], 4);
        // Lanes: a later batch may carry a lower seq; it is new, not "old".
        check(&[New(10), New(12), New(11), New(9), Dup(12), Dup(9)], 0);
        // Settling past a gap makes everything below seen, and the floor then runs over
        // seen seqs above it.
        check(&[New(5), New(6), New(8), Settle(4), Dup(3)], 6);
        check(&[New(8), Settle(7), Dup(2)], 8);
        check(&[Settle(100), Dup(100), Dup(1), New(101), New(103)], 101);
        // Settling backwards changes nothing.
        check(&[New(1), New(2), Settle(1)], 2);
    }

    #[test]
    fn seqs_that_slide_out_of_the_window_count_as_seen() {
        let far = WINDOW + 10;
        check(&[New(5), New(far)], 10);
        check(&[New(5), New(far), Dup(7), Dup(10), New(11), Dup(far)], 11);
        // A jump of more than the whole window clears every bit.
        check(
            &[
                New(1),
                New(2),
                New(3 * WINDOW),
                Dup(2 * WINDOW),
                New(2 * WINDOW + 1),
            ],
            2 * WINDOW + 1,
        );
    }

    #[test]
    fn reused_slots_do_not_leak_old_seqs() {
        // Seq 2 and seq 2 + WINDOW share a slot: having seen 2 must not make 2 + WINDOW a
        // duplicate once the window has moved past it.
        let mut window = SeqWindow::new();
        for seq in [1, 2, 3] {
            assert!(window.insert(seq));
        }
        assert!(window.insert(WINDOW + 3));
        for seq in [WINDOW + 1, WINDOW + 2] {
            assert!(
                !window.contains(seq),
                "slot of {seq} still holds an old seq"
            );
            assert!(window.insert(seq));
        }
    }

    #[test]
    fn the_floor_never_lags_more_than_the_window() {
        let mut window = SeqWindow::new();
        // Only odd seqs arrive: a gap at every even seq.
        for seq in (1..4 * WINDOW).step_by(2) {
            assert!(window.insert(seq));
            assert!(window.floor() + WINDOW >= window.top());
        }
    }

    /// Runs `(id, expect_new)` inserts on a window of `capacity` and checks each answer,
    /// then the ids it still remembers.
    fn check_ids(capacity: usize, inserts: &[(&str, bool)], expect_remembered: &[&str]) {
        let mut window = IdWindow::new(capacity);
        for (i, &(id, expect_new)) in inserts.iter().enumerate() {
            assert_eq!(window.insert(id), expect_new, "step {i}: insert {id:?}");
        }
        let remembered: Vec<&str> = window.arrival_order.iter().map(|id| &**id).collect();
        assert_eq!(
            remembered, expect_remembered,
            "remembered ids, oldest first"
        );
        assert_eq!(
            window.seen.len(),
            window.arrival_order.len(),
            "set and ring agree"
        );
        for id in expect_remembered {
            assert!(window.contains(id), "{id:?} should be remembered");
        }
    }

    #[test]
    fn id_window_scenarios() {
        // Repeats are refused however often they come.
        check_ids(
            4,
            &[
                ("g1", true),
                ("g2", true),
                ("g1", false),
                ("g1", false),
                ("g2", false),
            ],
            &["g1", "g2"],
        );
        // At the bound the oldest arrival goes; a repeat does not refresh its place, so "a"
        // goes before "b" and each comes back as new once forgotten.
        check_ids(
            2,
            &[
                ("a", true),
                ("b", true),
                ("a", false),
                ("c", true),
                ("a", true),
                ("b", true),
            ],
            &["a", "b"],
        );
        check_ids(
            1,
            &[("a", true), ("a", false), ("b", true), ("a", true)],
            &["a"],
        );
        // A capacity of 0 still remembers the last id.
        check_ids(0, &[("a", true), ("a", false)], &["a"]);
        // Ids are compared exactly: case and length matter.
        check_ids(
            3,
            &[("Gift", true), ("gift", true), ("gift:", true)],
            &["Gift", "gift", "gift:"],
        );
    }

    #[test]
    fn the_default_id_window_holds_id_window_ids() {
        let mut window = IdWindow::default();
        for n in 0..ID_WINDOW + 10 {
            assert!(window.insert(&format!("id-{n}")));
        }
        assert_eq!(window.len(), ID_WINDOW);
        assert!(!window.contains("id-9"), "the oldest ten were forgotten");
        assert!(window.contains("id-10"));
        assert!(!window.insert(&format!("id-{}", ID_WINDOW + 9)));
    }
}
