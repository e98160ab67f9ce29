//! Likes: a viewer's taps, coalesced per room into few `like` messages.
//!
//! A room's `like` kind has the `aggregate` policy by default: each message adds its
//! `body.count` (1-1000) to a room counter, and members get one update per window with the
//! room's total. A message per tap would spend the sender's message rate for nothing, so
//! [`crate::Client::like`] only adds taps here, and the connection task sends one message
//! per room at once when the room is quiet, then at most one every [`LIKE_INTERVAL`],
//! each with at most [`MAX_LIKES_PER_MESSAGE`] taps. A room's next message also waits for
//! the reply to its previous one, so likes put at most one request per room in flight.
//!
//! Plain values and explicit instants, no IO and no clock: the task asks for what is due.

use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The message kind of likes.
pub const LIKE_KIND: &str = "like";

/// The shortest time between two like messages of one room from one client.
pub const LIKE_INTERVAL: Duration = Duration::from_millis(200);

/// The most taps one like message carries (the server counts 1-1000 per message).
pub const MAX_LIKES_PER_MESSAGE: u32 = 1000;

/// The body of a like message carrying `taps` taps.
pub fn like_body(taps: u32) -> serde_json::Value {
    serde_json::json!({ "count": taps })
}

#[derive(Debug, Clone, Default)]
struct RoomLikes {
    /// Taps not sent yet.
    pending: u64,
    /// The room's previous message may go out no earlier than this.
    not_before: Option<Instant>,
    /// A like message of the room waits for its reply.
    in_flight: bool,
}

/// Taps not sent yet and the pace of like messages, per room. Bounded by the rooms the
/// client is in: [`crate::Client::like`] refuses other rooms, and a room's entry goes
/// when it has nothing pending, in flight or pacing.
#[derive(Debug, Clone, Default)]
pub struct PendingLikes {
    rooms: HashMap<String, RoomLikes>,
}

impl PendingLikes {
    pub fn new() -> PendingLikes {
        PendingLikes::default()
    }

    /// Adds `taps` to the room's pending count.
    pub fn add(&mut self, room: &str, taps: u32) {
        if taps == 0 {
            return;
        }
        let likes = self.rooms.entry(room.to_owned()).or_default();
        likes.pending = likes.pending.saturating_add(u64::from(taps));
    }

    /// Taps of `room` not sent yet.
    pub fn pending(&self, room: &str) -> u64 {
        self.rooms.get(room).map_or(0, |likes| likes.pending)
    }

    /// When the next like message is due: the earliest moment a room with pending taps
    /// and no message in flight may send. `None` when nothing waits (or only for
    /// replies).
    pub fn next_due(&self) -> Option<Instant> {
        self.rooms
            .values()
            .filter(|likes| likes.pending > 0 && !likes.in_flight)
            .map(|likes| likes.not_before)
            // A room never paced is due at once; `None` sorts first.
            .min()
            .map(|not_before| not_before.unwrap_or_else(Instant::now))
    }

    /// The like messages to send at `now`, as (room, taps), sorted by room. Each room's
    /// message is then in flight until [`PendingLikes::finished`], and paced until
    /// `now + LIKE_INTERVAL`. Drops the entries of rooms that are idle.
    pub fn take_due(&mut self, now: Instant) -> Vec<(String, u32)> {
        let mut due = Vec::new();
        for (room, likes) in &mut self.rooms {
            let paced = likes.not_before.is_some_and(|at| at > now);
            if likes.pending == 0 || likes.in_flight || paced {
                continue;
            }
            let taps = likes.pending.min(u64::from(MAX_LIKES_PER_MESSAGE));
            likes.pending -= taps;
            likes.in_flight = true;
            likes.not_before = Some(now + LIKE_INTERVAL);
            // At most MAX_LIKES_PER_MESSAGE, so it fits.
            due.push((room.clone(), taps as u32));
        }
        self.rooms.retain(|_, likes| {
            likes.pending > 0 || likes.in_flight || likes.not_before.is_some_and(|at| at > now)
        });
        due.sort();
        due
    }

    /// The reply to the room's like message came (or will never come).
    pub fn finished(&mut self, room: &str) {
        if let Some(likes) = self.rooms.get_mut(room) {
            likes.in_flight = false;
        }
    }

    /// Forgets the room (it was left) and returns its taps not sent.
    pub fn remove(&mut self, room: &str) -> u64 {
        self.rooms.remove(room).map_or(0, |likes| likes.pending)
    }

    /// Forgets every room and returns the taps not sent, per room, sorted by room.
    pub fn drain(&mut self) -> Vec<(String, u64)> {
        let mut lost: Vec<(String, u64)> = self
            .rooms
            .drain()
            .filter(|(_, likes)| likes.pending > 0)
            .map(|(room, likes)| (room, likes.pending))
            .collect();
        lost.sort();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step: taps, a look at what is due after `ms` milliseconds from the start, or a
    /// reply.
    enum Step {
        Tap(&'static str, u32),
        /// `take_due` at this many ms; the messages expected.
        Due(u64, &'static [(&'static str, u32)]),
        Reply(&'static str),
    }
    use Step::*;

    fn check(steps: &[Step], expect_pending: &[(&str, u64)]) {
        let start = Instant::now();
        let mut likes = PendingLikes::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Tap(room, taps) => likes.add(room, taps),
                Due(ms, expect) => {
                    let got = likes.take_due(start + Duration::from_millis(ms));
                    let expect: Vec<(String, u32)> =
                        expect.iter().map(|&(r, n)| (r.to_owned(), n)).collect();
                    assert_eq!(got, expect, "step {i}: due at {ms} ms");
                }
                Reply(room) => likes.finished(room),
            }
        }
        for &(room, pending) in expect_pending {
            assert_eq!(likes.pending(room), pending, "pending in {room}");
        }
    }

    #[test]
    fn taps_are_coalesced_and_paced() {
        // The first tap goes at once; taps meanwhile wait for the interval and the reply.
        check(
            &[
                Tap("r", 1),
                Due(0, &[("r", 1)]),
                Tap("r", 3),
                Tap("r", 2),
                Due(50, &[]),
                Reply("r"),
                Due(199, &[]),
                Due(200, &[("r", 5)]),
                Reply("r"),
                Due(1000, &[]),
            ],
            &[("r", 0)],
        );
        // The interval passed but the reply did not come: still waiting.
        check(
            &[Tap("r", 1), Due(0, &[("r", 1)]), Tap("r", 1), Due(500, &[])],
            &[("r", 1)],
        );
        // A quiet room sends at once again after the interval.
        check(
            &[
                Tap("r", 2),
                Due(0, &[("r", 2)]),
                Reply("r"),
                Due(300, &[]),
                Tap("r", 4),
                Due(300, &[("r", 4)]),
            ],
            &[("r", 0)],
        );
        // No taps, nothing due; zero taps are no taps.
        check(&[Tap("r", 0), Due(0, &[])], &[("r", 0)]);
    }

    #[test]
    fn a_message_carries_at_most_a_thousand_taps() {
        check(
            &[
                Tap("r", 2500),
                Due(0, &[("r", 1000)]),
                Reply("r"),
                Due(200, &[("r", 1000)]),
                Reply("r"),
                Due(400, &[("r", 500)]),
            ],
            &[("r", 0)],
        );
    }

    #[test]
    fn rooms_are_paced_apart() {
        check(
            &[
                Tap("b", 1),
                Tap("a", 2),
                Due(0, &[("a", 2), ("b", 1)]),
                Reply("a"),
                Tap("a", 1),
                Tap("b", 1),
                Due(200, &[("a", 1)]),
                Reply("b"),
                Due(200, &[("b", 1)]),
            ],
            &[("a", 0), ("b", 0)],
        );
    }

    #[test]
    fn the_next_due_moment_follows_pace_and_replies() {
        let start = Instant::now();
        let mut likes = PendingLikes::new();
        assert_eq!(likes.next_due(), None);
        likes.add("r", 1);
        assert!(likes.next_due().is_some(), "due at once");
        likes.take_due(start);
        likes.add("r", 1);
        assert_eq!(likes.next_due(), None, "waiting for the reply");
        likes.finished("r");
        assert_eq!(likes.next_due(), Some(start + LIKE_INTERVAL));
    }

    #[test]
    fn idle_rooms_are_forgotten_and_lost_taps_are_counted() {
        let start = Instant::now();
        let mut likes = PendingLikes::new();
        likes.add("a", 1);
        likes.add("b", 7);
        likes.take_due(start);
        likes.finished("a");
        likes.finished("b");
        likes.add("b", 3);
        likes.add("c", 4);
        // After the interval, "a" has nothing left: its entry goes.
        likes.take_due(start + LIKE_INTERVAL * 2);
        assert!(!likes.rooms.contains_key("a"));
        likes.add("c", 1);
        assert_eq!(likes.remove("c"), 1);
        likes.add("d", 2);
        assert_eq!(likes.drain(), [("d".to_owned(), 2)]);
        assert!(likes.rooms.is_empty());
    }
}
