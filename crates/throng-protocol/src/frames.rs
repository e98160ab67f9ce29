//! Frame and message types. Every frame is a map with a `type` field naming it.
//!
//! Request frames from the client may carry an `id` (chosen by the client); the server
//! echoes it in the reply (`joined`, `left`, `sent`, `pulled`, `pong`) or in the `error`
//! frame that refuses the request.

use serde::{Deserialize, Serialize};

/// A room's priority lanes. Under load `low` is dropped first and `system` never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Priority {
    System,
    High,
    Low,
}

impl Priority {
    /// All lanes, in delivery order.
    pub const ALL: [Priority; 3] = [Priority::System, Priority::High, Priority::Low];

    /// Position in [`Priority::ALL`]: 0 for system, 1 for high, 2 for low.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::System => "system",
            Priority::High => "high",
            Priority::Low => "low",
        }
    }
}

/// How a connection receives a room's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// The server pushes `batch` frames (the default).
    #[default]
    Push,
    /// The server sends a merged `notify` and the client answers with `pull`.
    Notify,
}

/// One room message as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Per-room sequence number, strictly increasing; lossy rooms may skip numbers.
    pub seq: u64,
    /// Server timestamp, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The sender's user id (`sub` of its token), or `"@server"` for the server API.
    pub from: String,
    /// The message type chosen by the app, for example `text`, `like` or `gift`.
    pub kind: String,
    pub priority: Priority,
    /// The app's payload, any JSON value.
    pub body: serde_json::Value,
    /// Present only on reliable messages: the client acknowledges them (`ack`) and shows
    /// each id once, since the server carries them again until acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Message {
    pub fn is_reliable(&self) -> bool {
        self.id.is_some()
    }
}

/// The longest reliable message id.
pub const MAX_MSG_ID_BYTES: usize = 64;

/// Whether a client-chosen reliable message id is acceptable: 1-64 characters of
/// `A-Z a-z 0-9 _ . : -`.
pub fn valid_msg_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MSG_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// The most seqs one `ack` frame may carry.
pub const MAX_ACK_SEQS: usize = 256;

/// Messages a connection did not get because they fell off a ring (or out of a capped
/// pull) before it could read them, per priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub high: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub low: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Skipped {
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> u64 {
        self.system + self.high + self.low
    }

    pub fn get(&self, priority: Priority) -> u64 {
        match priority {
            Priority::System => self.system,
            Priority::High => self.high,
            Priority::Low => self.low,
        }
    }

    pub fn add(&mut self, priority: Priority, n: u64) {
        match priority {
            Priority::System => self.system += n,
            Priority::High => self.high += n,
            Priority::Low => self.low += n,
        }
    }

    /// `Some(self)` when anything was skipped, for optional wire fields.
    pub fn non_empty(self) -> Option<Skipped> {
        (!self.is_empty()).then_some(self)
    }
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Join a room. Without `since`, the reply carries the room's latest messages (up to
    /// 50); with `since` (the last seq the client saw, after a reconnect) it carries every
    /// retained message after it.
    Join {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default)]
        mode: DeliveryMode,
    },
    Leave {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
    },
    /// Publish a message into a joined room.
    Send {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        #[serde(default = "default_kind")]
        kind: String,
        #[serde(default)]
        body: serde_json::Value,
        /// `high` (the default) or `low`; `system` is refused for ordinary users.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
        /// A reliable message: system lane, stored before `sent`, carried again until
        /// each member acknowledges it. Needs the right to send reliable messages.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reliable: bool,
        /// The reliable message's id, an idempotency key: a second send with the same id
        /// while the first is retained returns the first one's seq.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg_id: Option<String>,
    },
    /// Acknowledges reliable messages received in a room, by seq. No reply.
    Ack { room: String, seqs: Vec<u64> },
    /// Fetch retained messages with `seq > since` (notify-pull mode, or to fill a gap).
    Pull {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        since: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// A moderator's action on a room (needs the `moderator` role in the token).
    Moderate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        action: ModerateAction,
        /// The target user; absent for `mute_room` and `unmute_room`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// How long a mute, ban or list entry lasts; absent means until lifted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_s: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Set a room attribute (needs the right to write the room's attributes).
    AttrSet {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        key: String,
        value: serde_json::Value,
        /// Delete the entry when this user leaves the room.
        #[serde(default)]
        delete_on_leave: bool,
        /// Only if the key is at this version (0: only if absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_version: Option<u64>,
    },
    /// Delete a room attribute.
    AttrDelete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_version: Option<u64>,
    },
    /// Fetch the room's attribute changes after `since` (the version the client holds).
    AttrPull {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        since: u64,
    },
    /// Application-level heartbeat; the server answers `pong`.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
    },
}

fn default_kind() -> String {
    "text".to_owned()
}

impl ClientFrame {
    /// The request id the client chose, echoed in the reply.
    pub fn id(&self) -> Option<u32> {
        match self {
            ClientFrame::Join { id, .. }
            | ClientFrame::Leave { id, .. }
            | ClientFrame::Send { id, .. }
            | ClientFrame::Pull { id, .. }
            | ClientFrame::Moderate { id, .. }
            | ClientFrame::AttrSet { id, .. }
            | ClientFrame::AttrDelete { id, .. }
            | ClientFrame::AttrPull { id, .. }
            | ClientFrame::Ping { id } => *id,
            ClientFrame::Ack { .. } => None,
        }
    }

    /// The room the frame is about, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            ClientFrame::Join { room, .. }
            | ClientFrame::Leave { room, .. }
            | ClientFrame::Send { room, .. }
            | ClientFrame::Pull { room, .. }
            | ClientFrame::Moderate { room, .. }
            | ClientFrame::AttrSet { room, .. }
            | ClientFrame::AttrDelete { room, .. }
            | ClientFrame::AttrPull { room, .. }
            | ClientFrame::Ack { room, .. } => Some(room),
            ClientFrame::Ping { .. } => None,
        }
    }
}

/// What a moderator (or the server API) does to a room or one of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerateAction {
    Mute,
    Unmute,
    /// Remove the user now and refuse their joins until the ban ends.
    Ban,
    Unban,
    /// Remove the user now; they may join again.
    Kick,
    MuteRoom,
    UnmuteRoom,
    Whitelist,
    Unwhitelist,
    /// Remove the user now and refuse their joins until taken off the blacklist.
    Blacklist,
    Unblacklist,
}

impl ModerateAction {
    /// Whether the action removes the user from the room at once.
    pub fn removes(self) -> bool {
        matches!(
            self,
            ModerateAction::Ban | ModerateAction::Kick | ModerateAction::Blacklist
        )
    }

    /// Whether the action concerns one user (else the whole room).
    pub fn targets_user(self) -> bool {
        !matches!(self, ModerateAction::MuteRoom | ModerateAction::UnmuteRoom)
    }
}

/// Why a connection is no longer in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The client asked to leave.
    Requested,
    /// The room was destroyed through the server API.
    RoomDeleted,
    /// Notify-pull mode: the client left too many notifies unpulled.
    NotPulling,
    /// A moderator removed the user; they may join again.
    Kicked,
    /// A moderator banned (or blacklisted) the user; joins are refused until it ends.
    Banned,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        conn_id: String,
        user: String,
        server_ts: u64,
        /// The client should send something (a `ping` will do) at least this often.
        heartbeat_ms: u32,
        /// Frames larger than this close the connection.
        max_frame_bytes: u32,
    },
    Joined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        /// The room's latest seq when the join was processed.
        seq: u64,
        online: u64,
        mode: DeliveryMode,
        msgs: Vec<Message>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skipped: Option<Skipped>,
        /// The room's attributes, when it has any; keep the version and pull changes
        /// after it when `attr_notify` says there are newer ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attrs: Option<crate::attrs::Snapshot>,
    },
    Left {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        reason: LeaveReason,
    },
    /// Acknowledges a `send`: the message was accepted with this seq.
    Sent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        seq: u64,
        ts: u64,
        /// The message's type is dropped while the room is over its rate, and it was:
        /// nothing was published (`seq` is 0).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dropped: bool,
    },
    /// Pushed messages of one room, ordered by seq.
    Batch {
        room: String,
        msgs: Vec<Message>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skipped: Option<Skipped>,
        /// Every message of the room with seq at or below this has now been sent to this
        /// connection or counted in `skipped`: the exact `since` to resume from after a
        /// reconnect. Below the highest seq seen when lanes are at different positions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upto: Option<u64>,
    },
    /// Notify-pull mode: messages up to `seq` are waiting; answer with `pull`.
    Notify { room: String, seq: u64 },
    Pulled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        /// The room's latest seq.
        seq: u64,
        msgs: Vec<Message>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skipped: Option<Skipped>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        ts: u64,
    },
    /// Acknowledges `attr_set` or `attr_delete`: the room's attributes are now at `version`.
    AttrSaved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        version: u64,
    },
    /// The answer to `attr_pull`: either the changes after `since`, oldest first, or
    /// (when the server no longer has them all) the full set to replace the client's.
    Attrs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changes: Option<Vec<crate::attrs::Change>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<crate::attrs::Snapshot>,
    },
    /// The room's attributes changed and are now at `version`: pull the changes after the
    /// version you hold. Merged: one per room flush at most.
    AttrNotify { room: String, version: u64 },
    /// Acknowledges a `moderate` request.
    Moderated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        room: String,
        action: ModerateAction,
    },
    /// Something a moderator did that concerns this connection: to its user (`user` is
    /// this connection's user) or to the whole room (`user` absent). `room` is absent
    /// for actions across all rooms.
    Moderation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        action: ModerateAction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// When it ends (Unix ms); absent means until lifted (or, for a kick, now).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who did it: a moderator's user id, or `@server` for the server API.
        by: String,
    },
    /// The room's live statistics, pushed to members every `stats_interval_ms`.
    Stats(RoomStats),
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u32>,
        code: crate::ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
}

/// Messages per lane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerLane {
    pub system: u64,
    pub high: u64,
    pub low: u64,
}

impl PerLane {
    pub fn from_array(values: [u64; 3]) -> PerLane {
        PerLane {
            system: values[0],
            high: values[1],
            low: values[2],
        }
    }
}

/// A room's live statistics: the `stats` frame, and `GET /v1/rooms/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomStats {
    pub room: String,
    /// Server time of the figures, Unix ms.
    pub ts: u64,
    /// Distinct users in the room.
    pub online: u64,
    /// Member connections.
    pub connections: u64,
    pub joins_per_sec: f64,
    pub leaves_per_sec: f64,
    /// Totals of the room's aggregated kinds (likes), since the room started on this node.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Messages accepted into each lane since the room started on this node.
    pub accepted: PerLane,
    /// Messages refused over the room's rate, dropped by their type's policy, or skipped
    /// by members that fell behind, per lane.
    pub dropped: PerLane,
}
