//! Loss and duplicate accounting for one subscriber.
//!
//! Every publisher numbers its messages from 0, separately per priority lane, and counts
//! only the ones the server accepted, so what a lane published is exactly the range
//! `0..count`. A subscriber marks each (sender, lane, seq) it receives in a bitset;
//! afterwards, lost = published − distinct received and duplicates = received − distinct.
//! Order does not matter: Throng legitimately sends a lower lane's older message after a
//! higher lane's newer one, so nothing here assumes seqs arrive in order.

use crate::target::BenchPayload;
use serde::{Deserialize, Serialize};

/// Seqs above this are treated as garbage rather than allocating a huge bitset for them.
const MAX_SEQ: u64 = 1 << 28;

/// Number of priority lanes (system, high, low).
pub const LANES: usize = 3;

/// Names of the lanes, by index, as reports show them.
pub const LANE_NAMES: [&str; LANES] = ["system", "high", "low"];

/// A count per lane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneCounts(pub [u64; LANES]);

impl LaneCounts {
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn add(&mut self, other: &LaneCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

/// How many messages one sender had accepted into one lane of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedStream {
    pub sender: u32,
    pub room_idx: u32,
    pub lane: u8,
    pub count: u64,
}

/// What one or more subscribers received, against what was published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Payloads received, duplicates included.
    pub received: u64,
    /// Published messages that never arrived, per lane.
    pub lost: LaneCounts,
    /// Payloads received more than once (each extra copy counts one).
    pub duplicates: u64,
    /// Payloads with a seq the sender never published (or from an unknown sender).
    pub unexpected: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.received += other.received;
        self.lost.add(&other.lost);
        self.duplicates += other.duplicates;
        self.unexpected += other.unexpected;
    }
}

/// The seqs one subscriber saw from one sender in one lane.
#[derive(Debug, Clone)]
struct Stream {
    sender: u32,
    lane: u8,
    seen: Vec<u64>,
    received: u64,
    /// Received seqs beyond [`MAX_SEQ`].
    garbage: u64,
}

impl Stream {
    fn mark(&mut self, seq: u64) -> bool {
        self.received += 1;
        if seq >= MAX_SEQ {
            self.garbage += 1;
            return false;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        let fresh = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        fresh
    }

    /// Distinct seqs seen below `limit`, and distinct seqs seen at or above it.
    fn distinct_split(&self, limit: u64) -> (u64, u64) {
        let mut below = 0;
        let mut above = 0;
        for (word_idx, &word) in self.seen.iter().enumerate() {
            let first = word_idx as u64 * 64;
            if first + 64 <= limit {
                below += u64::from(word.count_ones());
            } else if first >= limit {
                above += u64::from(word.count_ones());
            } else {
                let low_bits = limit - first;
                let mask = (1u64 << low_bits) - 1;
                below += u64::from((word & mask).count_ones());
                above += u64::from((word & !mask).count_ones());
            }
        }
        (below, above)
    }

    fn distinct(&self) -> u64 {
        self.seen.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// Everything one subscriber received, by (sender, lane).
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    streams: Vec<Stream>,
    /// Index of the stream last hit: consecutive payloads usually share a sender.
    last: usize,
}

impl SeqTracker {
    pub fn new() -> SeqTracker {
        SeqTracker::default()
    }

    /// Marks one received payload; true if it is the first copy.
    pub fn record(&mut self, payload: &BenchPayload) -> bool {
        let idx = match self.streams.get(self.last) {
            Some(s) if s.sender == payload.sender && s.lane == payload.lane => self.last,
            _ => match self
                .streams
                .iter()
                .position(|s| s.sender == payload.sender && s.lane == payload.lane)
            {
                Some(idx) => idx,
                None => {
                    self.streams.push(Stream {
                        sender: payload.sender,
                        lane: payload.lane,
                        seen: Vec::new(),
                        received: 0,
                        garbage: 0,
                    });
                    self.streams.len() - 1
                }
            },
        };
        self.last = idx;
        self.streams[idx].mark(payload.seq)
    }

    /// Payloads received so far, duplicates included.
    pub fn received(&self) -> u64 {
        self.streams.iter().map(|s| s.received).sum()
    }

    /// Compares what arrived with what the senders of `room_idx` published.
    pub fn tally(&self, room_idx: u32, published: &[PublishedStream]) -> Tally {
        let mut tally = Tally {
            received: self.received(),
            ..Tally::default()
        };
        for stream in &self.streams {
            let distinct = stream.distinct();
            tally.duplicates += stream.received - stream.garbage - distinct;
            tally.unexpected += stream.garbage;
        }
        for expected in published.iter().filter(|p| p.room_idx == room_idx) {
            let lane = usize::from(expected.lane).min(LANES - 1);
            let got = self
                .streams
                .iter()
                .find(|s| s.sender == expected.sender && s.lane == expected.lane);
            let (below, above) = got.map_or((0, 0), |s| s.distinct_split(expected.count));
            tally.lost.0[lane] += expected.count - below;
            tally.unexpected += above;
        }
        // Streams from senders that published nothing into this room.
        for stream in &self.streams {
            let known = published.iter().any(|p| {
                p.room_idx == room_idx && p.sender == stream.sender && p.lane == stream.lane
            });
            if !known {
                tally.unexpected += stream.distinct();
            }
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(sender: u32, lane: u8, seq: u64) -> BenchPayload {
        BenchPayload {
            sender,
            seq,
            sent_at_us: 0,
            lane,
        }
    }

    fn published(streams: &[(u32, u8, u64)]) -> Vec<PublishedStream> {
        streams
            .iter()
            .map(|&(sender, lane, count)| PublishedStream {
                sender,
                room_idx: 0,
                lane,
                count,
            })
            .collect()
    }

    /// Feeds `received` (sender, lane, seq) into a tracker and tallies it against
    /// `sent` (sender, lane, count).
    fn check(received: &[(u32, u8, u64)], sent: &[(u32, u8, u64)], expect: Tally) {
        let mut tracker = SeqTracker::new();
        for &(sender, lane, seq) in received {
            tracker.record(&p(sender, lane, seq));
        }
        assert_eq!(
            tracker.tally(0, &published(sent)),
            expect,
            "received {received:?}, sent {sent:?}"
        );
    }

    fn tally(received: u64, lost: [u64; 3], duplicates: u64, unexpected: u64) -> Tally {
        Tally {
            received,
            lost: LaneCounts(lost),
            duplicates,
            unexpected,
        }
    }

    #[test]
    fn loss_and_duplicates_per_lane() {
        // Nothing published, nothing received.
        check(&[], &[], tally(0, [0, 0, 0], 0, 0));
        // Everything published was lost.
        check(&[], &[(1, 1, 5), (1, 0, 2)], tally(0, [2, 5, 0], 0, 0));
        // All in order.
        check(
            &[(1, 1, 0), (1, 1, 1), (1, 1, 2)],
            &[(1, 1, 3)],
            tally(3, [0, 0, 0], 0, 0),
        );
        // A gap in the middle and a missing tail.
        check(
            &[(1, 1, 0), (1, 1, 2)],
            &[(1, 1, 4)],
            tally(2, [0, 2, 0], 0, 0),
        );
        // Duplicates, one of them received three times.
        check(
            &[(1, 1, 0), (1, 1, 0), (1, 1, 1), (1, 1, 0)],
            &[(1, 1, 2)],
            tally(4, [0, 0, 0], 2, 0),
        );
        // Reordering within a lane is neither loss nor duplication.
        check(
            &[(1, 1, 2), (1, 1, 0), (1, 1, 1)],
            &[(1, 1, 3)],
            tally(3, [0, 0, 0], 0, 0),
        );
        // Across lanes: system arrives first although published later; low lost.
        check(
            &[(1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1), (1, 2, 1)],
            &[(1, 0, 2), (1, 1, 2), (1, 2, 3)],
            tally(5, [0, 0, 2], 0, 0),
        );
        // Same seq numbers from two senders are different messages.
        check(
            &[(1, 1, 0), (2, 1, 0), (2, 1, 0)],
            &[(1, 1, 1), (2, 1, 1)],
            tally(3, [0, 0, 0], 1, 0),
        );
        // A seq past what the sender published, and a sender that published nothing here.
        check(
            &[(1, 1, 0), (1, 1, 7), (9, 1, 0)],
            &[(1, 1, 1)],
            tally(3, [0, 0, 0], 0, 2),
        );
        // Garbage seqs do not allocate and count as unexpected.
        check(
            &[(1, 1, MAX_SEQ + 5)],
            &[(1, 1, 1)],
            tally(1, [0, 1, 0], 0, 1),
        );
    }

    #[test]
    fn word_boundaries_are_counted_exactly() {
        for count in [1u64, 63, 64, 65, 127, 128, 129, 1000] {
            for hole in [0, count / 2, count - 1] {
                let received: Vec<(u32, u8, u64)> = (0..count)
                    .filter(|s| *s != hole)
                    .map(|s| (3, 1, s))
                    .collect();
                check(
                    &received,
                    &[(3, 1, count)],
                    tally(count - 1, [0, 1, 0], 0, 0),
                );
            }
        }
    }

    #[test]
    fn only_the_members_room_is_expected() {
        let mut tracker = SeqTracker::new();
        tracker.record(&p(1, 1, 0));
        let streams = vec![
            PublishedStream {
                sender: 1,
                room_idx: 4,
                lane: 1,
                count: 1,
            },
            PublishedStream {
                sender: 2,
                room_idx: 5,
                lane: 1,
                count: 10,
            },
        ];
        assert_eq!(tracker.tally(4, &streams), tally(1, [0, 0, 0], 0, 0));
        assert_eq!(tracker.tally(5, &streams), tally(1, [0, 10, 0], 0, 1));
    }

    #[test]
    fn record_says_whether_a_copy_is_new() {
        let mut tracker = SeqTracker::new();
        assert!(tracker.record(&p(1, 1, 3)));
        assert!(!tracker.record(&p(1, 1, 3)));
        assert!(tracker.record(&p(1, 0, 3)));
        assert_eq!(tracker.received(), 3);
    }
}
