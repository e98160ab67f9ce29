//! Scenarios for the room book: what reaches the app, `last_seq` and the resume position.

use super::*;
use serde_json::json;
use throng_protocol::Priority::{High, Low, System};

fn message(seq: u64, priority: Priority) -> Message {
    Message {
        seq,
        ts: 1_700_000_000_000 + seq,
        from: "u".into(),
        kind: "text".into(),
        priority,
        body: json!({"n": seq}),
        id: None,
    }
}

/// One frame for room "r". Messages are (seq, priority).
enum Step {
    /// `joined` with this seq; `resumed` says whether the join carried `since`.
    Joined {
        mode: DeliveryMode,
        seq: u64,
        msgs: &'static [(u64, Priority)],
        resumed: bool,
    },
    /// A `batch` without `upto` (an older server).
    Batch(&'static [(u64, Priority)]),
    /// A `batch` with the server's `upto`.
    BatchUpto(&'static [(u64, Priority)], u64),
    /// `pulled` for a pull from `since`; `auto` filters like an automatic pull.
    Pulled {
        since: u64,
        seq: u64,
        msgs: &'static [(u64, Priority)],
        auto: bool,
    },
}
use Step::*;

fn joined(seq: u64, msgs: &'static [(u64, Priority)]) -> Step {
    Joined {
        mode: DeliveryMode::Push,
        seq,
        msgs,
        resumed: false,
    }
}

fn resumed(seq: u64, msgs: &'static [(u64, Priority)]) -> Step {
    Joined {
        mode: DeliveryMode::Push,
        seq,
        msgs,
        resumed: true,
    }
}

/// Plays the steps and returns, per step, the seqs handed to the app, then
/// `(last_seq, resume_since)`.
fn play(steps: &[Step]) -> (Vec<Vec<u64>>, Option<u64>, Option<u64>) {
    let mut book = RoomBook::default();
    let to_messages =
        |msgs: &[(u64, Priority)]| msgs.iter().map(|&(s, p)| message(s, p)).collect::<Vec<_>>();
    let seqs = |msgs: Option<Vec<Message>>| {
        msgs.map(|m| m.iter().map(|m| m.seq).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for step in steps {
        let handed = match *step {
            Joined {
                mode,
                seq,
                msgs,
                resumed,
            } => book.apply_joined(JoinedReply {
                room: "r".into(),
                mode,
                seq,
                msgs: to_messages(msgs),
                resumed,
            }),
            Batch(msgs) => book.apply_batch("r", to_messages(msgs), None),
            BatchUpto(msgs, upto) => book.apply_batch("r", to_messages(msgs), Some(upto)),
            Pulled {
                since,
                seq,
                msgs,
                auto,
            } => book.apply_pulled("r", since, seq, to_messages(msgs), auto),
        };
        out.push(seqs(handed));
    }
    (out, book.last_seq("r"), book.resume_since("r"))
}

fn check(
    steps: &[Step],
    expect_handed: &[&[u64]],
    expect_last_seq: Option<u64>,
    expect_resume: Option<u64>,
) {
    let (handed, last_seq, resume) = play(steps);
    let expect_handed: Vec<Vec<u64>> = expect_handed.iter().map(|s| s.to_vec()).collect();
    assert_eq!(handed, expect_handed, "messages handed to the app");
    assert_eq!(last_seq, expect_last_seq, "last_seq");
    assert_eq!(resume, expect_resume, "resume_since");
}

#[test]
fn first_join_counts_the_rooms_seq_as_seen() {
    // An empty room: nothing received, but the client is at seq 0...
    check(&[joined(0, &[])], &[&[]], Some(0), Some(0));
    // ...and a room whose retained messages are all older than the latest seq.
    check(
        &[joined(40, &[(8, High), (9, Low)])],
        &[&[8, 9]],
        Some(40),
        Some(40),
    );
    // Later pushes start after the join's seq.
    check(
        &[
            joined(10, &[(9, High), (10, High)]),
            Batch(&[(11, High), (12, High)]),
        ],
        &[&[9, 10], &[11, 12]],
        Some(12),
        Some(12),
    );
}

#[test]
fn batches_are_deduplicated_by_seq_not_by_order() {
    check(
        &[
            joined(10, &[]),
            // Behind: the high lane first, then a later batch of the low lane with lower seqs.
            Batch(&[(12, High), (14, High)]),
            Batch(&[(11, Low), (13, Low)]),
            // The same frames again (e.g. a duplicate delivery): nothing reaches the app.
            Batch(&[(12, High), (14, High)]),
            Batch(&[(11, Low), (13, Low), (15, Low)]),
        ],
        &[&[], &[12, 14], &[11, 13], &[], &[15]],
        Some(15),
        Some(15),
    );
}

#[test]
fn a_batch_upto_sets_the_resume_position_exactly() {
    // The server says everything up to 11 was sent or skipped; 12 and 14 ran ahead.
    check(
        &[joined(10, &[]), BatchUpto(&[(12, High), (14, High)], 11)],
        &[&[], &[12, 14]],
        Some(14),
        Some(12),
    );
    // Once every lane drained, upto is the room's last seq.
    check(
        &[
            joined(10, &[]),
            BatchUpto(&[(12, High), (14, High)], 10),
            BatchUpto(&[(11, Low), (13, Low)], 14),
        ],
        &[&[], &[12, 14], &[11, 13]],
        Some(14),
        Some(14),
    );
}

#[test]
fn resume_position_waits_for_lanes_that_may_still_be_coming() {
    // The high lane ran ahead (12, 14); the low lane is still on its way: resuming from
    // the highest seq (14) would lose 11 and 13. The floor stays at 10.
    check(
        &[joined(10, &[]), Batch(&[(12, High), (14, High)])],
        &[&[], &[12, 14]],
        Some(14),
        Some(10),
    );
    // A low message proves the higher lanes drained up to it: everything at or below 13
    // arrived or was skipped, even seq 11 that never came (it was evicted).
    check(
        &[
            joined(10, &[]),
            Batch(&[(12, High), (14, High)]),
            Batch(&[(13, Low)]),
        ],
        &[&[], &[12, 14], &[13]],
        Some(14),
        Some(14),
    );
    // A system message ahead of a high gap proves nothing about the high lane.
    check(
        &[
            joined(10, &[]),
            Batch(&[(15, System)]),
            Batch(&[(11, High), (12, High)]),
        ],
        &[&[], &[15], &[11, 12]],
        Some(15),
        Some(12),
    );
}

#[test]
fn resumed_join_delivers_only_what_was_missed_and_keeps_last_seq_honest() {
    check(
        &[
            joined(10, &[]),
            Batch(&[(11, High), (13, High)]),
            // Reconnect: resume since 11 (12 was a gap). The server sends all after 11.
            resumed(16, &[(12, Low), (13, High), (14, High), (16, High)]),
        ],
        &[&[], &[11, 13], &[12, 14, 16]],
        Some(16),
        Some(16),
    );
    // The resumed join's seq settles the resume position but not last_seq: seq 20 was
    // never received (skipped while disconnected), so last_seq stays at what arrived.
    check(
        &[
            joined(10, &[]),
            Batch(&[(11, High)]),
            resumed(20, &[(15, High)]),
        ],
        &[&[], &[11], &[15]],
        Some(15),
        Some(20),
    );
}

#[test]
fn a_rejoin_is_a_resume() {
    let mut book = RoomBook::default();
    assert_eq!(book.since_for_join("r"), None);
    book.apply_joined(JoinedReply {
        room: "r".into(),
        mode: DeliveryMode::Push,
        seq: 5,
        msgs: vec![],
        resumed: false,
    });
    assert_eq!(book.since_for_join("r"), Some(5));
    // Switching to notify mode through a rejoin keeps the seen seqs.
    book.apply_joined(JoinedReply {
        room: "r".into(),
        mode: DeliveryMode::Notify,
        seq: 7,
        msgs: vec![message(5, High), message(6, High)],
        resumed: true,
    });
    assert_eq!(
        book.get("r").map(RoomState::mode),
        Some(DeliveryMode::Notify)
    );
    assert_eq!(book.last_seq("r"), Some(6));
    assert_eq!(book.since_for_join("r"), Some(7));
}

#[test]
fn pulls_in_notify_mode_settle_and_pulls_in_push_mode_do_not() {
    let notify = |seq, msgs| Joined {
        mode: DeliveryMode::Notify,
        seq,
        msgs,
        resumed: false,
    };
    check(
        &[
            notify(10, &[]),
            // An automatic pull from the floor, capped: 11 and 12 were left out (skipped).
            Pulled {
                since: 10,
                seq: 20,
                msgs: &[(13, High), (20, High)],
                auto: true,
            },
            // The next one starts at 20 and drops what it already had.
            Pulled {
                since: 20,
                seq: 22,
                msgs: &[(20, High), (21, Low), (22, High)],
                auto: true,
            },
        ],
        &[&[], &[13, 20], &[21, 22]],
        Some(22),
        Some(22),
    );
    // A pull from above the floor covers nothing below its since: no settling.
    check(
        &[
            notify(10, &[]),
            Pulled {
                since: 15,
                seq: 20,
                msgs: &[(16, High)],
                auto: true,
            },
        ],
        &[&[], &[16]],
        Some(16),
        Some(10),
    );
    // Push mode: the app's own pull returns everything it asked for, and the batch that
    // carries the same seqs later is filtered; the resume position is not moved by the
    // pull (a capped pull leaves out messages batches still bring).
    check(
        &[
            joined(10, &[]),
            Pulled {
                since: 10,
                seq: 14,
                msgs: &[(12, High), (14, High)],
                auto: false,
            },
            Batch(&[(11, High), (12, High), (13, High), (14, High)]),
        ],
        &[&[], &[12, 14], &[11, 13]],
        Some(14),
        Some(14),
    );
    check(
        &[
            joined(10, &[]),
            Pulled {
                since: 0,
                seq: 14,
                msgs: &[(9, High), (12, High)],
                auto: false,
            },
        ],
        &[&[], &[9, 12]],
        Some(12),
        Some(10),
    );
}

#[test]
fn frames_for_rooms_not_joined_are_dropped() {
    let mut book = RoomBook::default();
    assert_eq!(book.apply_batch("gone", vec![message(1, High)], None), None);
    assert_eq!(
        book.apply_pulled("gone", 0, 1, vec![message(1, High)], true),
        None
    );
    // The app's own pull still gets its answer.
    assert_eq!(
        book.apply_pulled("gone", 0, 1, vec![message(1, High)], false)
            .map(|m| m.len()),
        Some(1)
    );
    assert_eq!(book.start_auto_pull("gone", 3), None);
}

#[test]
fn the_book_is_bounded() {
    let mut book = RoomBook::new(2);
    let join = |room: &str| JoinedReply {
        room: room.into(),
        mode: DeliveryMode::Push,
        seq: 1,
        msgs: vec![],
        resumed: false,
    };
    assert!(book.apply_joined(join("a")).is_some());
    assert!(book.apply_joined(join("b")).is_some());
    assert!(!book.can_join("c"));
    assert!(book.apply_joined(join("c")).is_none());
    // Rejoining a tracked room is always allowed.
    assert!(book.can_join("a"));
    assert!(book.apply_joined(join("a")).is_some());
    assert!(book.remove("b"));
    assert!(book.apply_joined(join("c")).is_some());
    let rooms: Vec<String> = book
        .resume_plan()
        .into_iter()
        .map(|(room, _, _)| room)
        .collect();
    assert_eq!(rooms, ["a", "c"]);
}

#[test]
fn automatic_pulls_do_not_stack() {
    let mut book = RoomBook::default();
    book.apply_joined(JoinedReply {
        room: "r".into(),
        mode: DeliveryMode::Notify,
        seq: 10,
        msgs: vec![],
        resumed: false,
    });
    // (action, expected since of a pull to send now)
    enum Act {
        Notify(u64),
        Pulled {
            since: u64,
            seq: u64,
            msgs: &'static [u64],
        },
        Fail,
    }
    use Act::*;
    let cases: Vec<(Act, Option<u64>)> = vec![
        (Notify(12), Some(10)),
        // A second notify while the pull is in flight sends nothing...
        (Notify(15), None),
        // ...but if the reply stops short of it (seq 12 < 15), pull again from 12.
        (
            Pulled {
                since: 10,
                seq: 12,
                msgs: &[11, 12],
            },
            Some(12),
        ),
        (
            Pulled {
                since: 12,
                seq: 15,
                msgs: &[13, 15],
            },
            None,
        ),
        (Notify(18), Some(15)),
        // A notify the reply already covers causes no extra pull.
        (Notify(17), None),
        (
            Pulled {
                since: 15,
                seq: 18,
                msgs: &[18],
            },
            None,
        ),
        (Notify(19), Some(18)),
        (Fail, None),
        (Notify(20), Some(18)),
    ];
    for (i, (act, expect)) in cases.into_iter().enumerate() {
        let got = match act {
            Notify(seq) => book.start_auto_pull("r", seq),
            Pulled { since, seq, msgs } => {
                let msgs = msgs.iter().map(|&s| message(s, High)).collect();
                book.apply_pulled("r", since, seq, msgs, true);
                book.finish_auto_pull("r", seq)
            }
            Fail => {
                book.abandon_auto_pull("r");
                None
            }
        };
        assert_eq!(got, expect, "step {i}");
    }
}

/// A message of room "r" given as (seq, priority, reliable id).
type Tagged = (u64, Priority, Option<&'static str>);

/// One frame for room "r" carrying messages that may be reliable.
enum ReliableStep {
    Joined {
        seq: u64,
        msgs: &'static [Tagged],
        resumed: bool,
    },
    BatchUpto(&'static [Tagged], u64),
    /// The app's own pull from `since`: every message comes back, recorded.
    AppPull {
        since: u64,
        seq: u64,
        msgs: &'static [Tagged],
    },
}

fn tagged_message(&(seq, priority, id): &Tagged) -> Message {
    Message {
        id: id.map(str::to_owned),
        kind: if id.is_some() { "gift" } else { "text" }.into(),
        ..message(seq, priority)
    }
}

/// Plays the steps; checks per step the seqs handed to the app, then `last_seq` and
/// `resume_since` after each step.
fn check_reliable(steps: &[(ReliableStep, &[u64], u64, u64)]) {
    let mut book = RoomBook::default();
    let to_messages = |msgs: &[Tagged]| msgs.iter().map(tagged_message).collect::<Vec<_>>();
    for (i, (step, expect_handed, expect_last_seq, expect_resume)) in steps.iter().enumerate() {
        let handed = match *step {
            ReliableStep::Joined { seq, msgs, resumed } => book.apply_joined(JoinedReply {
                room: "r".into(),
                mode: DeliveryMode::Push,
                seq,
                msgs: to_messages(msgs),
                resumed,
            }),
            ReliableStep::BatchUpto(msgs, upto) => {
                book.apply_batch("r", to_messages(msgs), Some(upto))
            }
            ReliableStep::AppPull { since, seq, msgs } => {
                book.apply_pulled("r", since, seq, to_messages(msgs), false)
            }
        };
        let handed: Vec<u64> = handed.unwrap_or_default().iter().map(|m| m.seq).collect();
        assert_eq!(
            &handed, expect_handed,
            "step {i}: messages handed to the app"
        );
        assert_eq!(
            book.last_seq("r"),
            Some(*expect_last_seq),
            "step {i}: last_seq"
        );
        assert_eq!(
            book.resume_since("r"),
            Some(*expect_resume),
            "step {i}: resume_since"
        );
    }
}

#[test]
fn reliable_repeats_reach_the_app_once() {
    use ReliableStep::*;
    check_reliable(&[
        (
            Joined {
                seq: 10,
                msgs: &[],
                resumed: false,
            },
            &[],
            10,
            10,
        ),
        (
            BatchUpto(&[(11, System, Some("g1")), (12, High, None)], 12),
            &[11, 12],
            12,
            12,
        ),
        // The server carries g1 again under its own, older seq: dropped, and neither
        // position moves back.
        (BatchUpto(&[(11, System, Some("g1"))], 12), &[], 12, 12),
        // Newer messages still flow; a repeat in the same frame is filtered out of it.
        (
            BatchUpto(
                &[
                    (13, High, None),
                    (11, System, Some("g1")),
                    (14, System, Some("g2")),
                ],
                14,
            ),
            &[13, 14],
            14,
            14,
        ),
    ]);
}

#[test]
fn a_reliable_id_seen_under_another_seq_is_a_repeat_but_no_gap() {
    use ReliableStep::*;
    check_reliable(&[
        (
            Joined {
                seq: 10,
                msgs: &[],
                resumed: false,
            },
            &[],
            10,
            10,
        ),
        (BatchUpto(&[(11, System, Some("g1"))], 10), &[11], 11, 11),
        // The same id under seq 12 (carried by another path): not shown again, not a raise
        // of last_seq, but its seq fills its slot, so 13 follows without a gap.
        (BatchUpto(&[(12, System, Some("g1"))], 10), &[], 11, 12),
        (BatchUpto(&[(13, High, None)], 10), &[13], 13, 13),
    ]);
}

#[test]
fn reliable_messages_given_again_on_a_resume_are_dropped() {
    use ReliableStep::*;
    check_reliable(&[
        (
            Joined {
                seq: 10,
                msgs: &[(9, System, Some("g0"))],
                resumed: false,
            },
            &[9],
            10,
            10,
        ),
        // High ran ahead of a low message still on its way: the floor waits at 10.
        (
            BatchUpto(&[(12, High, None), (13, System, Some("g1"))], 10),
            &[12, 13],
            13,
            10,
        ),
        // Resume from 10: the server gives 11, 12 and the retained reliable messages again,
        // including g0 from before the floor, which the seq window alone would also drop.
        (
            Joined {
                seq: 14,
                msgs: &[
                    (9, System, Some("g0")),
                    (11, Low, None),
                    (12, High, None),
                    (13, System, Some("g1")),
                    (14, System, Some("g2")),
                ],
                resumed: true,
            },
            &[11, 14],
            14,
            14,
        ),
    ]);
}

#[test]
fn the_apps_own_pull_returns_reliable_messages_and_records_their_ids() {
    use ReliableStep::*;
    check_reliable(&[
        (
            Joined {
                seq: 10,
                msgs: &[],
                resumed: false,
            },
            &[],
            10,
            10,
        ),
        // The app asked for this range: it gets everything, seen or not.
        (
            AppPull {
                since: 10,
                seq: 12,
                msgs: &[(11, System, Some("g1")), (12, High, None)],
            },
            &[11, 12],
            12,
            12,
        ),
        // A batch then carrying g1 (same or another seq) shows nothing new.
        (
            BatchUpto(&[(11, System, Some("g1")), (12, High, None)], 12),
            &[],
            12,
            12,
        ),
        (BatchUpto(&[(15, System, Some("g1"))], 12), &[], 12, 12),
    ]);
}
