//! Message types collected per window (seed 000 §5.2.3): likes aggregated into a counter,
//! join and leave notices merged into one line, and keep-latest-per-key values.
//!
//! The first message of a window takes a place in its lane's ring (its seq, so ordering
//! and resume work as for any message) and opens a slot. Later messages of the same
//! window only change the slot. When the window closes the slot's final message replaces
//! the placeholder, and only then may members read past it: the room treats an open slot
//! as the end of its lane.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use throng_protocol::{Message, Priority};

/// The sender name of messages the server makes.
pub const SERVER_SENDER: &str = "@server";

/// The most names a merged notice lists; the rest are counted in `others`.
pub const MERGE_NAMES: usize = 10;

/// The most a single aggregated message adds to its counter.
pub const MAX_AGGREGATE_COUNT: u64 = 1_000;

/// How an open slot collects its window's messages.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotState {
    /// A counter: `delta` added in this window, `total` the room's running total.
    Aggregate {
        total: u64,
        delta: u64,
    },
    Merge {
        users: Vec<String>,
        others: u64,
    },
    /// The newest message for one key.
    Latest {
        message: Message,
    },
}

/// What identifies a slot within its window: its kind, plus the key value for `latest`.
pub type SlotKey = (String, Option<String>);

/// An open window of one kind (and key).
#[derive(Debug, Clone)]
pub struct Slot {
    pub lane: Priority,
    /// Absolute ring index of the placeholder.
    pub index: u64,
    /// The seq of the placeholder (the window's first message).
    pub seq: u64,
    pub ts: u64,
    pub kind: String,
    /// The `body[key]` value of a keep-latest slot.
    pub key: Option<String>,
    pub closes_at: u64,
    pub state: SlotState,
}

impl Slot {
    /// The message members get for this slot as it stands.
    pub fn message(&self) -> Message {
        let body = match &self.state {
            SlotState::Aggregate { total, delta } => json!({"count": total, "delta": delta}),
            SlotState::Merge { users, others } => json!({"users": users, "others": others}),
            SlotState::Latest { message } => {
                return Message {
                    seq: self.seq,
                    ..message.clone()
                }
            }
        };
        Message {
            seq: self.seq,
            ts: self.ts,
            from: SERVER_SENDER.to_owned(),
            kind: self.kind.clone(),
            priority: self.lane,
            body,
            id: None,
        }
    }
}

/// How much an aggregated message adds: its `body.count` when that is an integer from 1 to
/// [`MAX_AGGREGATE_COUNT`], else 1.
pub fn aggregate_count(body: &Value) -> u64 {
    body.get("count")
        .and_then(Value::as_u64)
        .filter(|n| (1..=MAX_AGGREGATE_COUNT).contains(n))
        .unwrap_or(1)
}

/// Who a merged notice names: the sender, or for the server's own presence notices the
/// `body.user` they carry.
pub fn merge_name(message: &Message) -> String {
    if message.from == SERVER_SENDER {
        if let Some(user) = message.body.get("user").and_then(Value::as_str) {
            return user.to_owned();
        }
    }
    message.from.clone()
}

/// The value of `body[key]` that names a keep-latest slot, as text; messages without it
/// are delivered as they are.
pub fn latest_key(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Adds a message to an open slot's state (and an aggregated one to the room's totals).
pub fn absorb(state: &mut SlotState, message: Message, totals: &mut BTreeMap<String, u64>) {
    match state {
        SlotState::Aggregate { total, delta } => {
            let n = aggregate_count(&message.body);
            let room_total = totals.entry(message.kind).or_insert(0);
            *room_total += n;
            *total = *room_total;
            *delta += n;
        }
        SlotState::Merge { users, others } => {
            if users.len() < MERGE_NAMES {
                users.push(merge_name(&message));
            } else {
                *others += 1;
            }
        }
        SlotState::Latest { message: latest } => *latest = message,
    }
}

/// The state a window starts with for its first message.
pub fn first_state(
    policy: &crate::TypePolicy,
    message: Message,
    totals: &mut BTreeMap<String, u64>,
) -> Option<SlotState> {
    match policy {
        crate::TypePolicy::Aggregate => {
            let n = aggregate_count(&message.body);
            let total = totals.entry(message.kind.clone()).or_insert(0);
            *total += n;
            Some(SlotState::Aggregate {
                total: *total,
                delta: n,
            })
        }
        crate::TypePolicy::Merge => Some(SlotState::Merge {
            users: vec![merge_name(&message)],
            others: 0,
        }),
        crate::TypePolicy::Latest { .. } => Some(SlotState::Latest { message }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, body: Value) -> Message {
        Message {
            seq: 1,
            ts: 1,
            from: from.into(),
            kind: "k".into(),
            priority: Priority::Low,
            body,
            id: None,
        }
    }

    #[test]
    fn aggregate_counts_take_body_count_within_bounds() {
        let cases = [
            (json!({}), 1),
            (json!({"count": 5}), 5),
            (json!({"count": 1000}), 1000),
            (json!({"count": 1001}), 1),
            (json!({"count": 0}), 1),
            (json!({"count": -3}), 1),
            (json!({"count": "7"}), 1),
            (json!("tap"), 1),
        ];
        for (body, expected) in cases {
            assert_eq!(aggregate_count(&body), expected, "{body}");
        }
    }

    #[test]
    fn merged_notices_name_ten_and_count_the_rest() {
        let mut state = SlotState::Merge {
            users: vec!["u0".into()],
            others: 0,
        };
        let mut totals = BTreeMap::new();
        for i in 1..25 {
            absorb(
                &mut state,
                message(&format!("u{i}"), json!({})),
                &mut totals,
            );
        }
        absorb(
            &mut state,
            message(SERVER_SENDER, json!({"user": "ann"})),
            &mut totals,
        );
        let SlotState::Merge { users, others } = state else {
            unreachable!()
        };
        assert_eq!(users.len(), MERGE_NAMES);
        assert_eq!(users[9], "u9");
        assert_eq!(others, 16, "u10..u24 and ann");
    }

    #[test]
    fn server_presence_notices_are_named_after_their_user() {
        assert_eq!(
            merge_name(&message(SERVER_SENDER, json!({"user": "ann"}))),
            "ann"
        );
        assert_eq!(merge_name(&message("bob", json!({"user": "ann"}))), "bob");
    }

    #[test]
    fn latest_keys_accept_scalars_only() {
        let cases = [
            (json!({"slot": "a"}), Some("a")),
            (json!({"slot": 3}), Some("3")),
            (json!({"slot": true}), Some("true")),
            (json!({"slot": [1]}), None),
            (json!({"other": 1}), None),
        ];
        for (body, expected) in cases {
            assert_eq!(latest_key(&body, "slot").as_deref(), expected, "{body}");
        }
    }
}
