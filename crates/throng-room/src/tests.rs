//! Room behaviour, driven through the public API with exact timestamps and a recording
//! [`Deliver`]. Frames are decoded back so that assertions read as what a client sees.

use crate::{ConnId, Deliver, Room, RoomSettings};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use throng_protocol::{
    Codec, DeliveryMode, EncodedMessage, LeaveReason, Message, Priority, ServerFrame, Skipped,
};

#[derive(Default)]
struct Recorder {
    busy: HashSet<ConnId>,
    refuse: HashSet<ConnId>,
    frames: Vec<(ConnId, ServerFrame)>,
    dropped: Vec<ConnId>,
    /// Distinct frame allocations handed out, to check sharing.
    distinct: HashSet<*const u8>,
}

impl Deliver for Recorder {
    fn is_ready(&mut self, conn: ConnId) -> bool {
        !self.busy.contains(&conn)
    }
    fn deliver(&mut self, conn: ConnId, frame: &Bytes) -> bool {
        if self.refuse.contains(&conn) {
            return false;
        }
        self.distinct.insert(frame.as_ptr());
        let codec = if frame.first() == Some(&b'{') {
            Codec::Json
        } else {
            Codec::MsgPack
        };
        self.frames
            .push((conn, codec.decode_server(frame).unwrap()));
        true
    }
    fn dropped(&mut self, conn: ConnId, frame: &Bytes) {
        let left = Codec::Json
            .decode_server(frame)
            .or_else(|_| Codec::MsgPack.decode_server(frame))
            .unwrap();
        assert!(matches!(
            left,
            ServerFrame::Left {
                reason: LeaveReason::NotPulling,
                ..
            }
        ));
        self.dropped.push(conn);
    }
}

impl Recorder {
    /// Seqs each connection received in batch frames, in order.
    fn seqs(&self) -> HashMap<ConnId, Vec<u64>> {
        let mut out: HashMap<ConnId, Vec<u64>> = HashMap::new();
        for (conn, frame) in &self.frames {
            if let ServerFrame::Batch { msgs, .. } = frame {
                out.entry(*conn)
                    .or_default()
                    .extend(msgs.iter().map(|m| m.seq));
            }
        }
        out
    }
    fn seqs_of(&self, conn: ConnId) -> Vec<u64> {
        self.seqs().remove(&conn).unwrap_or_default()
    }
    fn skipped_of(&self, conn: ConnId) -> Skipped {
        let mut total = Skipped::default();
        for (c, frame) in &self.frames {
            if let (
                true,
                ServerFrame::Batch {
                    skipped: Some(s), ..
                },
            ) = (*c == conn, frame)
            {
                for p in Priority::ALL {
                    total.add(p, s.get(p));
                }
            }
        }
        total
    }
    fn notifies_of(&self, conn: ConnId) -> usize {
        self.frames
            .iter()
            .filter(|(c, f)| *c == conn && matches!(f, ServerFrame::Notify { .. }))
            .count()
    }
    fn clear(&mut self) {
        self.frames.clear();
        self.distinct.clear();
    }
}

fn msg(seq: u64, priority: Priority) -> Arc<EncodedMessage> {
    Arc::new(EncodedMessage::new(Message {
        seq,
        ts: 1000 + seq,
        from: "alice".into(),
        kind: "text".into(),
        priority,
        body: serde_json::json!({ "n": seq }),
        id: None,
    }))
}

/// Parses a lane script such as "s1 h2 l3" into messages.
fn script(text: &str) -> Vec<Arc<EncodedMessage>> {
    text.split_whitespace()
        .map(|token| {
            let priority = match &token[..1] {
                "s" => Priority::System,
                "h" => Priority::High,
                "l" => Priority::Low,
                other => panic!("bad lane {other}"),
            };
            msg(token[1..].parse().unwrap(), priority)
        })
        .collect()
}

fn settings(edit: impl FnOnce(&mut RoomSettings)) -> RoomSettings {
    let mut s = RoomSettings::default();
    edit(&mut s);
    s.validate().unwrap();
    s
}

fn room_with(settings: RoomSettings, n_members: u64, mode: DeliveryMode) -> Room {
    let mut room = Room::new("r", settings);
    for conn in 0..n_members {
        room.join(conn, Codec::Json, mode, None, false).unwrap();
    }
    room
}

fn insert_all(room: &mut Room, text: &str, now: u64) {
    for m in script(text) {
        assert!(room.insert(m, now));
    }
}

#[test]
fn small_rooms_flush_at_once_and_big_rooms_wait_for_their_interval() {
    // (members, immediate_below, budget, max interval, expected interval)
    let cases = [
        (1, 64, 100_000, 200, 0),
        (63, 64, 100_000, 200, 0),
        (64, 64, 100_000, 200, 40),
        (1_000, 64, 100_000, 200, 40),
        (5_000, 64, 100_000, 200, 50),
        (18_000, 64, 100_000, 200, 180),
        (50_000, 64, 100_000, 200, 200),
        (5_000, 64, 10_000, 250, 250),
    ];
    for (members, immediate, budget, max_interval, expect) in cases {
        let s = settings(|s| {
            s.batch.immediate_below_members = immediate;
            s.batch.frame_budget_per_sec = budget;
            s.batch.max_interval_ms = max_interval;
        });
        let mut room = room_with(s, members, DeliveryMode::Push);
        assert_eq!(room.flush_interval_ms(), expect, "{members} members");
        assert_eq!(room.next_flush_at(), None, "nothing to send yet");
        room.flush(1000, &mut Recorder::default());
        insert_all(&mut room, "h1", 1005);
        let due = room.next_flush_at().unwrap();
        assert_eq!(due, (1000 + expect).max(1005), "{members} members");
    }
}

#[test]
fn members_at_the_same_position_share_one_encoding_per_codec() {
    let mut room = room_with(RoomSettings::default(), 300, DeliveryMode::Push);
    for conn in 300..310 {
        room.join(conn, Codec::MsgPack, DeliveryMode::Push, None, false)
            .unwrap();
    }
    insert_all(&mut room, "h1 l2 s3", 0);
    let mut out = Recorder::default();
    let report = room.flush(10, &mut out);
    assert_eq!(report.frames, 310);
    assert_eq!(report.encodings, 2, "one JSON and one MessagePack frame");
    assert_eq!(out.distinct.len(), 2);
    assert_eq!(report.deliveries, 310 * 3);
    assert_eq!(out.seqs_of(0), [1, 2, 3]);
    assert_eq!(out.seqs_of(305), [1, 2, 3]);
    assert_eq!(room.next_flush_at(), None);
}

#[test]
fn a_busy_member_gets_nothing_then_catches_up_with_skips_counted_per_lane() {
    let s = settings(|s| {
        s.ring_high = 2;
        s.ring_low = 2;
    });
    let mut room = room_with(s, 2, DeliveryMode::Push);
    let mut out = Recorder::default();
    out.busy.insert(1);
    // Rings of 2 keep h3 h5 and l4 l6: both members skipped h1 and l2.
    insert_all(&mut room, "h1 l2 h3 l4 h5 l6 s7", 0);
    let report = room.flush(0, &mut out);
    assert_eq!(out.seqs_of(0), [3, 4, 5, 6, 7]);
    assert_eq!(
        out.skipped_of(0),
        Skipped {
            system: 0,
            high: 1,
            low: 1
        }
    );
    assert_eq!(
        out.seqs_of(1),
        Vec::<u64>::new(),
        "a busy member gets nothing"
    );
    assert_eq!(report.behind, 1);
    assert_eq!(
        room.next_flush_at(),
        Some(crate::room::RETRY_MS),
        "a retry is scheduled"
    );

    out.busy.clear();
    out.clear();
    room.flush(20, &mut out);
    assert_eq!(out.seqs_of(1), [3, 4, 5, 6, 7]);
    assert_eq!(
        out.skipped_of(1),
        Skipped {
            system: 0,
            high: 1,
            low: 1
        }
    );
    assert_eq!(out.seqs_of(0), Vec::<u64>::new(), "member 0 was caught up");
    assert_eq!(room.counters().skipped, [0, 2, 2]);
    assert_eq!(room.next_flush_at(), None);
}

#[test]
fn a_member_that_falls_behind_a_ring_is_told_what_it_skipped() {
    let s = settings(|s| {
        s.ring_high = 3;
        s.ring_low = 3;
    });
    let mut room = room_with(s, 2, DeliveryMode::Push);
    let mut out = Recorder::default();
    insert_all(&mut room, "h1", 0);
    room.flush(0, &mut out);
    out.busy.insert(1);
    out.clear();
    // Member 0 reads at once; member 1 is busy. High keeps 4 6 8, low keeps 5 7 9.
    insert_all(&mut room, "h2 l3 h4 l5 h6 l7 h8 l9", 1);
    room.flush(1, &mut out);
    assert_eq!(out.seqs_of(0), [4, 5, 6, 7, 8, 9]);
    out.busy.clear();
    out.clear();
    room.flush(21, &mut out);
    assert_eq!(out.seqs_of(1), [4, 5, 6, 7, 8, 9]);
    assert_eq!(
        out.skipped_of(1),
        Skipped {
            system: 0,
            high: 1,
            low: 1
        }
    );
    assert_eq!(room.counters().skipped, [0, 2, 2]);
}

#[test]
fn capped_batches_send_system_first_then_high_then_low() {
    let s = settings(|s| s.batch.max_messages = 3);
    let mut room = room_with(s, 1, DeliveryMode::Push);
    insert_all(&mut room, "l1 l2 h3 l4 s5 h6 s7", 0);
    let mut batches = Vec::new();
    for t in 0..4 {
        let mut out = Recorder::default();
        room.flush(t * 20, &mut out);
        batches.push(out.seqs_of(0));
    }
    // System s5 s7 and the oldest high (h3) first; then h6 and the oldest lows; then l4.
    assert_eq!(batches, [vec![3, 5, 7], vec![1, 2, 6], vec![4], vec![]]);
}

#[test]
fn batches_are_capped_in_bytes_but_always_carry_a_message() {
    let s = settings(|s| s.batch.max_bytes = 1024);
    let mut room = room_with(s, 1, DeliveryMode::Push);
    let big = |seq| {
        Arc::new(EncodedMessage::new(Message {
            seq,
            ts: 0,
            from: "a".into(),
            kind: "text".into(),
            priority: Priority::High,
            body: serde_json::json!("x".repeat(400)),
            id: None,
        }))
    };
    for seq in 1..=5 {
        room.insert(big(seq), 0);
    }
    room.insert(msg(6, Priority::High), 0);
    let mut sizes = Vec::new();
    for t in 0..4 {
        let mut out = Recorder::default();
        room.flush(t * 20, &mut out);
        sizes.push(out.seqs_of(0));
    }
    // Two ~450-byte messages fit in 1024 bytes, a third does not.
    assert_eq!(sizes, [vec![1, 2], vec![3, 4], vec![5, 6], vec![]]);
}

#[test]
fn each_batch_says_up_to_which_seq_a_client_may_resume() {
    let s = settings(|s| s.batch.max_messages = 3);
    let mut room = room_with(s, 1, DeliveryMode::Push);
    insert_all(&mut room, "l1 l2 h3 l4 s5 h6 s7", 0);
    let mut uptos = Vec::new();
    for t in 0..3 {
        let mut out = Recorder::default();
        room.flush(t * 20, &mut out);
        for (_, frame) in out.frames {
            if let ServerFrame::Batch { upto, .. } = frame {
                uptos.push(upto);
            }
        }
    }
    // After [3 5 7], l1 is the oldest waiting: resume from 0. After [1 2 6], l4 waits:
    // resume from 3. After [4], nothing waits: resume from the room's last seq.
    assert_eq!(uptos, [Some(0), Some(3), Some(7)]);
}

#[test]
fn a_refused_delivery_keeps_the_cursor() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Push);
    insert_all(&mut room, "h1 h2", 0);
    let mut out = Recorder::default();
    out.refuse.insert(0);
    assert_eq!(room.flush(0, &mut out).behind, 1);
    out.refuse.clear();
    room.flush(20, &mut out);
    assert_eq!(out.seqs_of(0), [1, 2]);
}

#[test]
fn duplicates_and_old_seqs_are_ignored() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Push);
    assert!(room.insert(msg(5, Priority::High), 0));
    assert!(!room.insert(msg(5, Priority::High), 0));
    assert!(!room.insert(msg(3, Priority::Low), 0));
    let mut out = Recorder::default();
    room.flush(0, &mut out);
    assert_eq!(out.seqs_of(0), [5]);
}

#[test]
fn first_join_gets_the_latest_messages_and_a_resume_gets_what_came_after() {
    let s = settings(|s| {
        s.recent_on_join = 3;
        s.ring_low = 2;
    });
    let mut room = Room::new("r", s);
    insert_all(&mut room, "h1 l2 s3 l4 h5 l6", 0);
    let seqs = |snap: &crate::Snapshot| snap.msgs.iter().map(|m| m.message.seq).collect::<Vec<_>>();
    // (since, expected seqs, expected skipped)
    let cases: [(Option<u64>, &[u64], Skipped); 5] = [
        (None, &[4, 5, 6], Skipped::default()),
        (
            Some(0),
            &[1, 3, 4, 5, 6],
            Skipped {
                system: 0,
                high: 0,
                low: 1,
            },
        ),
        (Some(3), &[4, 5, 6], Skipped::default()),
        (
            Some(1),
            &[3, 4, 5, 6],
            Skipped {
                system: 0,
                high: 0,
                low: 1,
            },
        ),
        (Some(6), &[], Skipped::default()),
    ];
    for (conn, (since, expect, skipped)) in cases.into_iter().enumerate() {
        let snap = room
            .join(
                conn as ConnId,
                Codec::Json,
                DeliveryMode::Push,
                since,
                false,
            )
            .unwrap();
        assert_eq!(seqs(&snap), expect, "since {since:?}");
        assert_eq!(snap.skipped, skipped, "since {since:?}");
        assert_eq!(snap.seq, 6);
    }
    assert_eq!(room.n_members(), 5);
}

#[test]
fn a_capped_pull_keeps_higher_lanes_and_counts_the_rest() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Notify);
    insert_all(&mut room, "l1 h2 l3 s4 h5 l6", 0);
    let mut seqs = |limit| {
        let snap = room.pull(0, 0, limit).unwrap();
        (
            snap.msgs.iter().map(|m| m.message.seq).collect::<Vec<_>>(),
            snap.skipped,
        )
    };
    let cases: [(u32, &[u64], Skipped); 4] = [
        (10, &[1, 2, 3, 4, 5, 6], Skipped::default()),
        (
            4,
            &[2, 4, 5, 6],
            Skipped {
                system: 0,
                high: 0,
                low: 2,
            },
        ),
        (
            2,
            &[4, 5],
            Skipped {
                system: 0,
                high: 1,
                low: 3,
            },
        ),
        (
            1,
            &[4],
            Skipped {
                system: 0,
                high: 2,
                low: 3,
            },
        ),
    ];
    for (limit, expect, skipped) in cases {
        let (got, got_skipped) = seqs(limit);
        assert_eq!(got, expect, "limit {limit}");
        assert_eq!(got_skipped, skipped, "limit {limit}");
    }
    assert_eq!(
        room.pull(9, 0, 10).unwrap_err(),
        crate::RoomError::NotJoined
    );
}

#[test]
fn notify_mode_merges_notifies_and_respects_the_inflight_mark() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Notify);
    let mut out = Recorder::default();
    // (time, inserts, pull before flush?, notifies expected so far)
    let steps: [(u64, &str, bool, usize); 6] = [
        (0, "h1 h2 h3", false, 1), // three messages, one merged notify
        (500, "h4", false, 1),     // in-flight mark: no notify within 2 s
        (1999, "h5", false, 1),
        (2000, "h6", false, 2), // mark expired: notify again
        (2100, "h7", true, 3),  // the client pulled: notify at once
        (2200, "", false, 3),   // nothing new: nothing sent
    ];
    for (now, inserts, pull, expect) in steps {
        insert_all(&mut room, inserts, now);
        if pull {
            room.pull(0, 0, 100).unwrap();
            insert_all(&mut room, "h8", now);
        }
        room.flush(now, &mut out);
        assert_eq!(out.notifies_of(0), expect, "at {now}");
    }
    let last = out.frames.iter().rev().find_map(|(_, f)| match f {
        ServerFrame::Notify { seq, .. } => Some(*seq),
        _ => None,
    });
    assert_eq!(last, Some(8));
}

#[test]
fn notify_members_that_stop_pulling_are_dropped_unless_whitelisted() {
    // (drop_after_notifies, drop_after_ms, whitelisted, flushes every ms, expect dropped at flush #)
    let cases = [
        (3, 600_000, false, 2_000, Some(3)),
        (30, 30_000, false, 2_000, Some(15)),
        (30, 600_000, false, 2_000, Some(30)),
        (3, 600_000, true, 2_000, None),
    ];
    for (max_notifies, max_ms, whitelisted, step, expect) in cases {
        let s = settings(|s| {
            s.notify.drop_after_notifies = max_notifies;
            s.notify.drop_after_ms = max_ms;
        });
        let mut room = Room::new("r", s);
        room.join(7, Codec::Json, DeliveryMode::Notify, None, whitelisted)
            .unwrap();
        let mut out = Recorder::default();
        let mut dropped_at = None;
        for i in 0..40u64 {
            room.insert(msg(i + 1, Priority::High), i * step);
            room.flush(i * step, &mut out);
            if !out.dropped.is_empty() {
                dropped_at = Some(i);
                break;
            }
        }
        assert_eq!(
            dropped_at, expect,
            "{max_notifies} notifies / {max_ms} ms / whitelisted {whitelisted}"
        );
        assert_eq!(room.is_member(7), expect.is_none());
    }
}

#[test]
fn leave_removes_only_that_member_and_room_full_is_enforced() {
    let s = settings(|s| s.max_members = 2);
    let mut room = room_with(s, 2, DeliveryMode::Push);
    assert_eq!(
        room.join(2, Codec::Json, DeliveryMode::Push, None, false)
            .unwrap_err(),
        crate::RoomError::Full(2)
    );
    assert!(
        room.join(1, Codec::Json, DeliveryMode::Push, Some(0), false)
            .is_ok(),
        "a rejoin is a resume, not a new member"
    );
    assert!(room.leave(0));
    assert!(!room.leave(0));
    assert!(room.is_member(1));
    insert_all(&mut room, "h1", 0);
    let mut out = Recorder::default();
    room.flush(0, &mut out);
    assert_eq!(out.seqs().len(), 1);
    assert_eq!(out.seqs_of(1), [1]);
}

#[test]
fn shrinking_rings_through_settings_evicts_oldest() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Push);
    insert_all(&mut room, "h1 h2 h3 h4", 0);
    room.set_settings(settings(|s| s.ring_high = 2));
    let mut out = Recorder::default();
    room.flush(0, &mut out);
    assert_eq!(out.seqs_of(0), [3, 4]);
    assert_eq!(
        out.skipped_of(0),
        Skipped {
            system: 0,
            high: 2,
            low: 0
        }
    );
}

// --- Reliable messages -----------------------------------------------------------------

fn reliable(seq: u64) -> Arc<EncodedMessage> {
    Arc::new(EncodedMessage::new(Message {
        seq,
        ts: 1000 + seq,
        from: "@server".into(),
        kind: "gift".into(),
        priority: Priority::System,
        body: serde_json::json!({ "gift": seq }),
        id: Some(format!("g{seq}")),
    }))
}

/// Reliable seqs each connection received, in order, repeats included.
fn reliable_seqs(out: &Recorder, conn: ConnId) -> Vec<u64> {
    out.frames
        .iter()
        .filter(|(c, _)| *c == conn)
        .flat_map(|(_, frame)| match frame {
            ServerFrame::Batch { msgs, .. } => msgs
                .iter()
                .filter(|m| m.id.is_some())
                .map(|m| m.seq)
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Runs flushes at every 100 ms from `from` to `to`, as a host would when told.
fn flush_until(room: &mut Room, out: &mut Recorder, from: u64, to: u64) {
    let mut now = from;
    while now <= to {
        if room.next_flush_at().is_some_and(|at| at <= now) {
            room.flush(now, out);
        }
        now += 100;
    }
}

#[test]
fn reliable_messages_are_carried_again_until_acked_at_most_max_tries_times() {
    // (acks at: time in ms after which the member acks, or never) -> deliveries seen
    let cases: [(Option<u64>, usize); 4] = [
        (Some(0), 1),    // acked right after the first delivery
        (Some(1050), 2), // acked after the first retry
        (Some(2050), 3), // after the second
        (None, 3),       // never: three deliveries in all, then the room gives up
    ];
    for (ack_after, deliveries) in cases {
        let mut room = room_with(RoomSettings::default(), 2, DeliveryMode::Push);
        let mut out = Recorder::default();
        room.insert(reliable(1), 0);
        room.flush(0, &mut out);
        let mut now = 0;
        let mut acked = false;
        while now <= 6000 {
            if let Some(at) = ack_after {
                if !acked && now >= at {
                    room.ack(0, &[1]);
                    acked = true;
                }
            }
            if room.next_flush_at().is_some_and(|at| at <= now) {
                room.flush(now, &mut out);
            }
            now += 50;
        }
        assert_eq!(
            reliable_seqs(&out, 0).len(),
            deliveries,
            "ack after {ack_after:?}"
        );
        // Member 1 never acks: three deliveries, then counted as given up.
        assert_eq!(reliable_seqs(&out, 1), [1, 1, 1]);
        assert_eq!(
            room.counters().reliable_gave_up,
            1 + u64::from(ack_after.is_none())
        );
    }
}

#[test]
fn a_retry_carries_only_unacked_messages_and_keeps_the_resume_position() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Push);
    let mut out = Recorder::default();
    for m in [reliable(1), msg(2, Priority::High), reliable(3)] {
        room.insert(m, 0);
    }
    room.flush(0, &mut out);
    room.ack(0, &[3]);
    out.clear();
    flush_until(&mut room, &mut out, 100, 1100);
    let [(0, ServerFrame::Batch { msgs, upto, .. })] = out.frames.as_slice() else {
        panic!("one retry frame: {:?}", out.frames);
    };
    assert_eq!(msgs.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(*upto, Some(3), "the resume position stays where it was");
}

#[test]
fn a_busy_member_is_retried_when_it_drains_and_skipped_reliable_messages_are_carried() {
    let settings = settings(|s| s.ring_system = 2);
    let mut room = room_with(settings, 1, DeliveryMode::Push);
    let mut out = Recorder::default();
    out.busy.insert(0);
    // Four reliable messages into a ring of two: 1 and 2 fall off while the member is busy.
    for seq in 1..=4 {
        room.insert(reliable(seq), 0);
    }
    room.flush(0, &mut out);
    assert!(out.frames.is_empty());
    out.busy.clear();
    room.flush(100, &mut out);
    assert_eq!(reliable_seqs(&out, 0), [3, 4], "the ring's two");
    out.clear();
    room.ack(0, &[3, 4]);
    flush_until(&mut room, &mut out, 200, 1200);
    assert_eq!(
        reliable_seqs(&out, 0),
        [1, 2],
        "the skipped ones come again from the room's reliable store"
    );
}

#[test]
fn a_resuming_member_gets_reliable_messages_that_fell_off_the_ring() {
    let settings = settings(|s| s.ring_system = 2);
    let mut room = Room::new("r", settings);
    for seq in 1..=5 {
        room.insert(reliable(seq), 0);
    }
    room.insert(msg(6, Priority::High), 0);
    let snapshot = room
        .join(9, Codec::Json, DeliveryMode::Push, Some(2), false)
        .unwrap();
    let seqs: Vec<u64> = snapshot.msgs.iter().map(|m| m.message.seq).collect();
    assert_eq!(
        seqs,
        [3, 4, 5, 6],
        "3 from the reliable store, 4 and 5 from the ring"
    );
    // A restored message (stored before a restart) counts too.
    room.restore_reliable(reliable(0), 10_000);
    let snapshot = room
        .join(10, Codec::Json, DeliveryMode::Push, Some(0), false)
        .unwrap();
    assert_eq!(snapshot.msgs[0].message.seq, 1);
}

#[test]
fn reliable_messages_expire_after_their_ttl() {
    let settings = settings(|s| s.reliable.ttl_s = 1);
    let mut room = Room::new("r", settings);
    room.insert(reliable(1), 0);
    assert_eq!(room.n_pending_reliable(), 1);
    room.flush(999, &mut Recorder::default());
    assert_eq!(room.n_pending_reliable(), 1);
    room.flush(1000, &mut Recorder::default());
    assert_eq!(room.n_pending_reliable(), 0);
}

// --- Type policies -----------------------------------------------------------------

fn typed(seq: u64, from: &str, kind: &str, body: serde_json::Value) -> Arc<EncodedMessage> {
    Arc::new(EncodedMessage::new(Message {
        seq,
        ts: 1000 + seq,
        from: from.into(),
        kind: kind.into(),
        priority: Priority::Low,
        body,
        id: None,
    }))
}

/// Every message each member received in batches, in order.
fn received(out: &Recorder, conn: ConnId) -> Vec<Message> {
    out.frames
        .iter()
        .filter(|(c, _)| *c == conn)
        .flat_map(|(_, frame)| match frame {
            ServerFrame::Batch { msgs, .. } => msgs.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn ten_thousand_likes_in_a_second_become_a_few_counter_updates() {
    let mut room = room_with(RoomSettings::default(), 3, DeliveryMode::Push);
    let mut out = Recorder::default();
    for i in 0..10_000u64 {
        let now = i / 10; // 10 000 taps over one second
        room.insert(typed(i + 1, "fan", "like", serde_json::json!({})), now);
        if room.next_flush_at().is_some_and(|at| at <= now) {
            room.flush(now, &mut out);
        }
    }
    flush_until(&mut room, &mut out, 1000, 2000);
    let likes = received(&out, 0);
    assert!(
        (3..=6).contains(&likes.len()),
        "one update per 250 ms window: {}",
        likes.len()
    );
    let last = likes.last().unwrap();
    assert_eq!(last.body["count"], 10_000);
    assert_eq!(last.from, "@server");
    let deltas: u64 = likes
        .iter()
        .map(|m| m.body["delta"].as_u64().unwrap())
        .sum();
    assert_eq!(deltas, 10_000, "the deltas add up to the total");
    assert_eq!(room.totals()["like"], 10_000);
    let seqs: Vec<u64> = likes.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn policies_shape_what_members_receive() {
    // (kind, policy, messages as (from, body)) -> bodies members receive
    type Case = (
        &'static str,
        serde_json::Value,
        Vec<(&'static str, serde_json::Value)>,
        Vec<serde_json::Value>,
    );
    let cases: Vec<Case> = vec![
        (
            "like",
            serde_json::json!({"policy": "aggregate"}),
            vec![
                ("a", serde_json::json!({"count": 5})),
                ("b", serde_json::json!({})),
                ("c", serde_json::json!({"count": 5000})),
            ],
            vec![serde_json::json!({"count": 7, "delta": 7})],
        ),
        (
            "join",
            serde_json::json!({"policy": "merge"}),
            vec![
                ("@server", serde_json::json!({"user": "ann"})),
                ("bob", serde_json::json!({})),
                ("cid", serde_json::json!({})),
            ],
            vec![serde_json::json!({"users": ["ann", "bob", "cid"], "others": 0})],
        ),
        (
            "score",
            serde_json::json!({"policy": "latest", "key": "team"}),
            vec![
                ("a", serde_json::json!({"team": "red", "v": 1})),
                ("a", serde_json::json!({"team": "blue", "v": 1})),
                ("a", serde_json::json!({"team": "red", "v": 2})),
                ("a", serde_json::json!({"v": 9})),
            ],
            vec![
                serde_json::json!({"team": "red", "v": 2}),
                serde_json::json!({"team": "blue", "v": 1}),
                serde_json::json!({"v": 9}),
            ],
        ),
        (
            "text",
            serde_json::json!({"policy": "deliver", "priority": "low"}),
            vec![("a", serde_json::json!(1)), ("b", serde_json::json!(2))],
            vec![serde_json::json!(1), serde_json::json!(2)],
        ),
    ];
    for (kind, policy, sent, expected) in cases {
        let settings = settings(|s| {
            s.types
                .insert(kind.into(), serde_json::from_value(policy.clone()).unwrap());
        });
        let mut room = room_with(settings, 1, DeliveryMode::Push);
        let mut out = Recorder::default();
        // The server publishes each message in its policy's lane.
        let lane = room.settings().policy(kind).priority();
        for (i, (from, body)) in sent.into_iter().enumerate() {
            let message = Message {
                priority: lane,
                ..typed(i as u64 + 1, from, kind, body).message.clone()
            };
            room.insert(Arc::new(EncodedMessage::new(message)), 0);
            room.flush(0, &mut out);
        }
        flush_until(&mut room, &mut out, 100, 1000);
        let bodies: Vec<serde_json::Value> =
            received(&out, 0).into_iter().map(|m| m.body).collect();
        assert_eq!(bodies, expected, "{kind} {policy}");
    }
}

#[test]
fn an_open_window_holds_back_its_lane_but_not_the_others() {
    let mut room = room_with(RoomSettings::default(), 1, DeliveryMode::Push);
    let mut out = Recorder::default();
    room.insert(typed(1, "a", "like", serde_json::json!({})), 0);
    room.insert(typed(2, "a", "chat", serde_json::json!("low chat")), 0);
    room.insert(msg(3, Priority::High), 0);
    room.flush(0, &mut out);
    assert_eq!(out.seqs_of(0), [3], "the high lane goes at once");
    out.clear();
    flush_until(&mut room, &mut out, 100, 400);
    assert_eq!(
        out.seqs_of(0),
        [1, 2],
        "the like update, then what waited behind it"
    );
}

#[test]
fn joins_and_pulls_do_not_see_an_open_window_only_its_final_message() {
    let mut room = Room::new("r", RoomSettings::default());
    let mut out = Recorder::default();
    room.insert(msg(1, Priority::Low), 0);
    room.insert(typed(2, "a", "like", serde_json::json!({"count": 3})), 0);
    // A member joining (or resuming) while the window is open sees what is before it.
    for since in [None, Some(0)] {
        let snapshot = room
            .join(7, Codec::Json, DeliveryMode::Push, since, false)
            .unwrap();
        let seqs: Vec<u64> = snapshot.msgs.iter().map(|m| m.message.seq).collect();
        assert_eq!(seqs, [1], "since {since:?}");
    }
    room.insert(typed(3, "b", "like", serde_json::json!({"count": 4})), 10);
    assert_eq!(room.pull(7, 0, 100).unwrap().msgs.len(), 1);
    flush_until(&mut room, &mut out, 100, 400);
    let likes = received(&out, 7);
    assert_eq!(likes.len(), 1);
    assert_eq!(
        (likes[0].seq, &likes[0].body),
        (2, &serde_json::json!({"count": 7, "delta": 7}))
    );
}

#[test]
fn a_resume_gets_at_most_max_pull_stored_reliable_messages_and_counts_the_rest() {
    let settings = settings(|s| s.ring_system = 2);
    let mut room = Room::new("r", settings);
    for seq in 1..=600 {
        room.insert(reliable(seq), 0);
    }
    let snapshot = room
        .join(1, Codec::Json, DeliveryMode::Push, Some(0), false)
        .unwrap();
    let seqs: Vec<u64> = snapshot.msgs.iter().map(|m| m.message.seq).collect();
    assert_eq!(
        seqs,
        (99..=600).collect::<Vec<_>>(),
        "the ring's two and the newest 500"
    );
    assert_eq!(
        snapshot.skipped.system, 98,
        "every one of the 600 is delivered or counted"
    );
}
