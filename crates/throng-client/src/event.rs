//! What the SDK hands the app: the event stream and the replies of requests.

use std::time::Duration;
use throng_protocol::attrs::Snapshot;
use throng_protocol::{
    CloseCode, DeliveryMode, ErrorCode, LeaveReason, Message, ModerateAction, Skipped,
};
use tokio::sync::mpsc;

/// Something that happened on the connection, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Messages of a joined room not seen before: from a pushed `batch`, from the join
    /// the SDK makes when it resumes after a reconnect, or from an automatic pull.
    /// `skipped` counts, per priority, messages the server could not deliver (they fell
    /// off its rings before this client read them, or were left out of a capped reply).
    /// May carry no messages when only `skipped` is news.
    Messages {
        room: String,
        msgs: Vec<Message>,
        skipped: Skipped,
    },
    /// Notify mode with `auto_pull` off: messages up to `seq` wait in the room; pull them
    /// with [`crate::Client::pull`] from [`crate::Client::resume_since`].
    Notify { room: String, seq: u64 },
    /// The client is no longer in the room: the room was deleted, or (notify mode) the
    /// client left too many notifies unpulled. The SDK forgets the room.
    Left { room: String, reason: LeaveReason },
    /// A moderator acted on this user (`user` is this client's user) or on the whole
    /// room (`user` absent); `room` is absent for actions across all rooms. Removal
    /// (kick, ban, blacklist) is followed by [`Event::Left`].
    Moderation {
        room: Option<String>,
        action: ModerateAction,
        user: Option<String>,
        /// When it ends (Unix ms); absent means until lifted.
        until: Option<u64>,
        reason: Option<String>,
        by: String,
    },
    /// The room's attributes reached `version`: pull the changes after the version you
    /// hold with [`crate::Client::attr_pull`] and [`throng_protocol::attrs::apply`] them.
    AttrNotify { room: String, version: u64 },
    /// Taps given to [`crate::Client::like`] that did not count: the server refused or
    /// dropped their like message, or the connection dropped before its reply (the SDK
    /// does not send it again, as the server may have counted it).
    LikesLost {
        room: String,
        taps: u32,
        reason: String,
    },
    /// The room's live statistics, pushed every `stats_interval_ms` of the room.
    Stats(throng_protocol::RoomStats),
    /// The full attribute set of a room the SDK re-joined after a reconnect: replace the
    /// app's copy with it.
    Attributes { room: String, snapshot: Snapshot },
    /// An `error` frame that answers none of the app's requests: a refused frame sent with
    /// [`crate::Client::send_raw`], or a join the SDK made to resume the room `room`
    /// after a reconnect (the SDK then forgets that room).
    ServerError {
        code: ErrorCode,
        message: String,
        room: Option<String>,
    },
    /// The connection went down. `close_code` is the server's WebSocket close code if it
    /// sent one (none on a network loss). With `will_reconnect` the SDK is reconnecting;
    /// without, [`Event::Closed`] follows.
    Disconnected {
        close_code: Option<CloseCode>,
        reason: String,
        will_reconnect: bool,
    },
    /// A new connection is up and the SDK has sent a resuming join for each listed room
    /// (with `since` = [`crate::Client::resume_since`] and the room's mode). Their
    /// missed messages follow as [`Event::Messages`]; a room whose resume is refused
    /// gets an [`Event::ServerError`] naming it. Requests made after this event reach
    /// the server after the resuming joins.
    Reconnected { resumed_rooms: Vec<String> },
    /// The client is closed for good (the app called [`crate::Client::close`], every
    /// [`crate::Client`] handle was dropped, or reconnecting stopped). Always the last
    /// event.
    Closed,
}

/// The stream of [`Event`]s of one client. Bounded by `ClientConfig::event_buffer`; see
/// there for what happens when the app does not keep up.
#[derive(Debug)]
pub struct Events(pub(crate) mpsc::Receiver<Event>);

impl Events {
    /// The next event, or `None` after [`Event::Closed`].
    pub async fn next(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is ready now.
    pub fn try_next(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

/// The reply to [`crate::Client::join`].
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub room: String,
    /// The room's latest seq when the server processed the join.
    pub seq: u64,
    /// Connections in the room (as the server counts them).
    pub online: u64,
    pub mode: DeliveryMode,
    /// The room's latest messages (first join), or the ones the client had not seen
    /// (joining a room it is already in resumes it). Already seen seqs are removed.
    pub msgs: Vec<Message>,
    pub skipped: Skipped,
    /// The room's attributes, if it has any (every join carries the full set).
    pub attrs: Option<Snapshot>,
}

/// The reply to [`crate::Client::send`] and its variants: the message was accepted with
/// this seq, or (`dropped`) accepted and dropped by the room's type policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The message's seq; 0 when `dropped`. For a reliable send repeated with the same
    /// `msg_id`, the seq of the first send (nothing new was published).
    pub seq: u64,
    /// Server time of the message, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The message's kind has the `drop_over_rate` policy in this room and the room was
    /// over its rate: nobody receives it. Not an error; the app may tell its user or try
    /// again later.
    pub dropped: bool,
}

/// The reply to [`crate::Client::pull`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    /// The room's latest seq.
    pub seq: u64,
    /// Every message the server returned, including ones already seen: the app asked
    /// for this range. They are recorded, so events will not repeat them.
    pub msgs: Vec<Message>,
    pub skipped: Skipped,
}

/// The `hello` of the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub conn_id: String,
    /// The user id the server read from the token.
    pub user: String,
    /// Server time at connect, milliseconds since the Unix epoch.
    pub server_ts: u64,
    /// The SDK sends a `ping` after half of this without sending anything.
    pub heartbeat_ms: u32,
    /// Frames over this size make the server close the connection with 4005.
    pub max_frame_bytes: u32,
}

impl Hello {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(u64::from(self.heartbeat_ms))
    }
}
