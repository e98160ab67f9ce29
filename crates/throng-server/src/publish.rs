//! The one path every room message takes into the bus, from a client connection or from
//! the server API: the message type's policy, the room's rate, reliable storage, and
//! recording for replay.
//!
//! Callers check who may send what (roles, moderation, the word filter) first; this
//! module decides what the room does with an admitted message.

use crate::metrics as m;
use crate::node::Node;
use crate::rooms::RoomHandle;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use throng_backend::{unix_ms, Draft};
use throng_protocol::{valid_msg_id, ErrorCode, Message, Priority};
use throng_room::{RoomSettings, TypePolicy};

/// A message on its way into a room.
pub struct Publication<'a> {
    pub room: &'a str,
    pub from: String,
    pub kind: String,
    pub body: serde_json::Value,
    /// The lane, already decided by the caller from its rights and the type's policy.
    pub priority: Priority,
    pub reliable: bool,
    pub msg_id: Option<String>,
}

/// What became of a publication.
pub enum Published {
    /// On the bus with this seq.
    Message(Arc<Message>),
    /// A reliable message with the same id is already retained: nothing new was published.
    Duplicate(Message),
    /// The type is dropped while the room is over its rate, and it was.
    Dropped,
}

/// Why a publication was refused.
pub type Refusal = (ErrorCode, String);

/// The lane of a message of `kind`: what the sender asked for, else the type's lane.
/// Reliable messages always travel in the system lane.
pub fn lane(
    settings: &RoomSettings,
    kind: &str,
    asked: Option<Priority>,
    reliable: bool,
) -> Priority {
    if reliable {
        return Priority::System;
    }
    match settings.policy(kind) {
        // Collected per window and sent as one update in the low lane, whatever was asked.
        policy @ (TypePolicy::Aggregate | TypePolicy::Merge) => policy.priority(),
        policy => asked.unwrap_or(policy.priority()),
    }
}

/// Publishes after the room's rate and, for reliable messages, after storing them.
/// `handle` is the room's host on this node, if it runs, for its drop counters.
pub async fn publish(
    node: &Node,
    settings: &RoomSettings,
    handle: Option<&RoomHandle>,
    publication: Publication<'_>,
) -> Result<Published, Refusal> {
    let Publication {
        room,
        from,
        kind,
        body,
        priority,
        reliable,
        msg_id,
    } = publication;
    let policy = settings.policy(&kind);
    let rated = priority != Priority::System
        && !matches!(policy, TypePolicy::Aggregate | TypePolicy::Merge);
    if rated {
        let rate = settings.rate_per_sec;
        let rate_key = match handle {
            Some(handle) => std::borrow::Cow::Borrowed(handle.rate_key.as_str()),
            None => std::borrow::Cow::Owned(crate::rooms::rate_key(room)),
        };
        let admitted = node
            .backends
            .hot
            .take_token(&rate_key, rate, rate)
            .await
            .map_err(unavailable)?;
        if !admitted {
            if let Some(handle) = handle {
                handle.refused[priority.index()].fetch_add(1, Ordering::Relaxed);
            }
            if matches!(policy, TypePolicy::DropOverRate { .. }) {
                metrics::counter!(m::POLICY_DROPPED, "kind" => "drop_over_rate").increment(1);
                return Ok(Published::Dropped);
            }
            metrics::counter!(m::ROOM_RATE_LIMITED).increment(1);
            return Err((
                ErrorCode::ROOM_RATE_LIMITED,
                format!("room {room:?} accepts at most {rate} messages per second"),
            ));
        }
    }
    let now = unix_ms();
    let id = if reliable {
        Some(reliable_id(node, settings, room, msg_id, now).await?)
    } else {
        None
    };
    let id = match id {
        Some(ReliableId::Existing(message)) => return Ok(Published::Duplicate(message)),
        Some(ReliableId::New(id)) => Some(id),
        None => None,
    };
    // Aggregated kinds (likes) also add to the room's stored counter, once per message
    // whichever node hosts the room, so totals outlive room hosts and restarts of them.
    let aggregated = (!reliable && matches!(policy, TypePolicy::Aggregate))
        .then(|| throng_room::windows::aggregate_count(&body));
    let draft = Draft {
        from,
        kind,
        priority,
        body,
        id,
    };
    let message = node
        .backends
        .bus
        .publish(room, draft)
        .await
        .map_err(unavailable)?;
    if let Some(n) = aggregated {
        if let Err(e) = node.backends.hot.counter_add(room, &message.kind, n).await {
            // The message is out; only the stored total misses it.
            tracing::warn!(room, error = %e, "room counter not updated");
        }
    }
    if reliable {
        // Stored before the sender's ack. Members online got it from the bus already; if
        // storing fails the sender sees an error and retries with the same id, which
        // clients drop as a repeat.
        let expires_at = now + u64::from(settings.reliable.ttl_s) * 1000;
        node.backends
            .store
            .reliable_put(room, &message, expires_at)
            .await
            .map_err(unavailable)?;
        metrics::counter!(m::RELIABLE_IN).increment(1);
    }
    metrics::counter!(m::MESSAGES_IN, "priority" => priority.as_str()).increment(1);
    // Here, not in room hosts: several nodes host a room, but each message is published
    // once. Never waits (see `recording`).
    node.recorder.record(room, &message, &settings.recording);
    Ok(Published::Message(message))
}

enum ReliableId {
    New(String),
    Existing(Message),
}

/// The id of a new reliable message, or the retained message that already has it; refuses
/// bad ids and rooms at their reliable backlog.
async fn reliable_id(
    node: &Node,
    settings: &RoomSettings,
    room: &str,
    msg_id: Option<String>,
    now: u64,
) -> Result<ReliableId, Refusal> {
    let store = &node.backends.store;
    if let Some(id) = &msg_id {
        if !valid_msg_id(id) {
            return Err((
                ErrorCode::INVALID_VALUE,
                "msg_id must be 1-64 characters of A-Z a-z 0-9 _ . : -".into(),
            ));
        }
        if let Some(existing) = store
            .reliable_find(room, id, now)
            .await
            .map_err(unavailable)?
        {
            return Ok(ReliableId::Existing(existing));
        }
    }
    let held = store.reliable_count(room, now).await.map_err(unavailable)?;
    let max = u64::from(settings.reliable.max_pending);
    if held >= max {
        metrics::counter!(m::POLICY_DROPPED, "kind" => "backlog_full").increment(1);
        return Err((
            ErrorCode::BACKLOG_FULL,
            format!(
                "room {room:?} holds {max} reliable messages awaiting acknowledgement; retry later"
            ),
        ));
    }
    Ok(ReliableId::New(msg_id.unwrap_or_else(|| {
        uuid::Uuid::new_v4().simple().to_string()
    })))
}

fn unavailable(e: throng_backend::BackendError) -> Refusal {
    tracing::warn!(error = %e, "backend error while publishing");
    (
        ErrorCode::UNAVAILABLE,
        "a backend is unavailable; retry later".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_follow_reliability_then_policy_then_the_request() {
        let settings = RoomSettings::default();
        let cases = [
            // (kind, asked, reliable, lane)
            ("text", None, false, Priority::High),
            ("text", Some(Priority::Low), false, Priority::Low),
            ("text", None, true, Priority::System),
            ("gift", None, false, Priority::System),
            ("gift", Some(Priority::Low), true, Priority::System),
            ("like", Some(Priority::High), false, Priority::Low),
            ("join", None, false, Priority::Low),
            ("custom", None, false, Priority::High),
        ];
        for (kind, asked, reliable, expected) in cases {
            assert_eq!(
                lane(&settings, kind, asked, reliable),
                expected,
                "{kind} {asked:?} {reliable}"
            );
        }
    }
}
