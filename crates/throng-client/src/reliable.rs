//! Acknowledging reliable messages: the `ack` frames that answer one received frame.
//!
//! Every reliable message (one with an `id`) of a `joined`, `batch` or `pulled` frame is
//! acknowledged, repeats included: a repeat means the server has not (yet) got an earlier
//! ack, and until one reaches it the server carries the message again, up to
//! `reliable.max_tries` deliveries. The server sends no reply to `ack`; a lost ack only
//! costs a repeat, which the room's [`crate::dedup::IdWindow`] drops.

use throng_protocol::{ClientFrame, Message, MAX_ACK_SEQS};

/// The `ack` frames for the reliable messages among `msgs`, one received frame of `room`:
/// their seqs in the order they came, at most [`MAX_ACK_SEQS`] per frame. Empty when the
/// frame carried none.
pub fn ack_frames(room: &str, msgs: &[Message]) -> Vec<ClientFrame> {
    ack_frames_of_at_most(room, msgs, MAX_ACK_SEQS)
}

fn ack_frames_of_at_most(room: &str, msgs: &[Message], max_seqs: usize) -> Vec<ClientFrame> {
    let seqs: Vec<u64> = msgs
        .iter()
        .filter(|message| message.is_reliable())
        .map(|message| message.seq)
        .collect();
    seqs.chunks(max_seqs.max(1))
        .map(|chunk| ClientFrame::Ack {
            room: room.to_owned(),
            seqs: chunk.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use throng_protocol::Priority;

    /// Messages given as (seq, reliable id); checks the seqs of each ack frame.
    fn check(msgs: &[(u64, Option<&str>)], max_seqs: usize, expect: &[&[u64]]) {
        let msgs: Vec<Message> = msgs
            .iter()
            .map(|&(seq, id)| Message {
                seq,
                ts: 1_700_000_000_000,
                from: "@server".into(),
                kind: "gift".into(),
                priority: Priority::System,
                body: json!({}),
                id: id.map(str::to_owned),
            })
            .collect();
        let frames = ack_frames_of_at_most("r1", &msgs, max_seqs);
        let got: Vec<Vec<u64>> = frames
            .into_iter()
            .map(|frame| match frame {
                ClientFrame::Ack { room, seqs } => {
                    assert_eq!(room, "r1");
                    seqs
                }
                other => panic!("not an ack: {other:?}"),
            })
            .collect();
        let expect: Vec<Vec<u64>> = expect.iter().map(|seqs| seqs.to_vec()).collect();
        assert_eq!(got, expect, "{msgs:?} at most {max_seqs} per ack");
    }

    #[test]
    fn acks_list_the_reliable_seqs_of_a_frame() {
        // Nothing reliable: no ack at all.
        check(&[], 256, &[]);
        check(&[(1, None), (2, None)], 256, &[]);
        // Only messages with an id, in the order they came (lanes may reorder seqs).
        check(
            &[
                (812, Some("g1")),
                (813, None),
                (815, Some("g2")),
                (790, Some("g0")),
            ],
            256,
            &[&[812, 815, 790]],
        );
        // Repeats are acknowledged again.
        check(&[(5, Some("g")), (5, Some("g"))], 256, &[&[5, 5]]);
        // Split at the bound.
        check(
            &[
                (1, Some("a")),
                (2, Some("b")),
                (3, None),
                (4, Some("c")),
                (5, Some("d")),
            ],
            2,
            &[&[1, 2], &[4, 5]],
        );
        check(&[(1, Some("a")), (2, Some("b"))], 2, &[&[1, 2]]);
        check(
            &[(1, Some("a")), (2, Some("b")), (3, Some("c"))],
            1,
            &[&[1], &[2], &[3]],
        );
    }

    #[test]
    fn a_full_frame_splits_at_max_ack_seqs() {
        let msgs: Vec<Message> = (1..=MAX_ACK_SEQS as u64 * 2 + 1)
            .map(|seq| Message {
                seq,
                ts: 0,
                from: "@server".into(),
                kind: "gift".into(),
                priority: Priority::System,
                body: json!({}),
                id: Some(format!("g{seq}")),
            })
            .collect();
        let sizes: Vec<usize> = ack_frames("r", &msgs)
            .iter()
            .map(|frame| match frame {
                ClientFrame::Ack { seqs, .. } => seqs.len(),
                other => panic!("not an ack: {other:?}"),
            })
            .collect();
        assert_eq!(sizes, [MAX_ACK_SEQS, MAX_ACK_SEQS, 1]);
    }
}
