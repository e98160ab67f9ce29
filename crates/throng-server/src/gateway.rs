//! The WebSocket gateway: the handshake (token, capacity, codec) and one task per
//! connection that reads client frames, writes replies and room frames, and enforces
//! heartbeats, token expiry and drain.

use crate::error::ApiError;
use crate::metrics as m;
use crate::node::{Node, RoomLookup};
use crate::publish::Published;
use crate::rooms::{Command, RoomHandle};
use crate::validate;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use throng_auth::Claims;
use throng_protocol::{
    ClientFrame, CloseCode, Codec, DeliveryMode, ErrorCode, Priority, ServerFrame, MAX_ACK_SEQS,
};
use throng_room::{ConnId, RoomError, MAX_PULL};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The user id the server API publishes as.
pub const SERVER_SENDER: &str = "@server";

/// Role (JWT `roles` claim) that lets a client send `system` priority messages (and
/// moderate, and never be dropped by the notify-pull policy).
pub const SYSTEM_ROLE: &str = "system";

/// Role that lets a client mute, ban, kick and edit a room's lists with `moderate`.
pub const MODERATOR_ROLE: &str = "moderator";

/// Frames rooms hand to a connection. Replies to the client's own requests do not go
/// through here: the connection task writes those itself.
pub enum Outbound {
    /// A batch or notify of one room; `done` is cleared once it is written.
    Batch {
        message: WsMessage,
        done: Arc<AtomicBool>,
    },
    /// The connection was removed from a room (deleted, not pulling, kicked, banned).
    Left { room: Arc<str>, message: WsMessage },
    /// An event for this connection (a moderation action).
    Event(WsMessage),
}

/// The sending side of a connection's outbound queue, held by the rooms it joined.
///
/// Bounded (`gateway.outbound_queue`): each room has at most one batch in it per
/// connection, so it fills only when a connection is in many busy rooms; a room then
/// skips the connection until there is space (the room's backpressure rule).
#[derive(Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Outbound>,
    codec: Codec,
}

impl Outbox {
    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn has_room(&self) -> bool {
        self.sender.capacity() > 0
    }

    /// Queues without waiting; false if the queue is full or the connection is gone.
    pub fn try_send(&self, outbound: Outbound) -> bool {
        self.sender.try_send(outbound).is_ok()
    }
}

/// Wraps an encoded frame as the WebSocket message type its codec travels in.
pub fn ws_message(codec: Codec, frame: Bytes) -> WsMessage {
    if codec.is_binary() {
        WsMessage::Binary(frame)
    } else {
        // Our JSON encoder only produces UTF-8.
        WsMessage::Text(Utf8Bytes::try_from(frame).expect("JSON frames are UTF-8"))
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Counts a connection for as long as it lives (or until its upgrade fails).
pub struct ConnectionSlot {
    node: Arc<Node>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let now = self.node.connections.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!(m::CONNECTIONS).set(now as f64);
    }
}

/// `GET /v1/ws`.
pub async fn upgrade(
    State(node): State<Arc<Node>>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if node.is_draining() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down; reconnect to another node or retry shortly",
        )
        .into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = query.token.or(bearer) else {
        return auth_refusal(throng_auth::AuthError::Missing);
    };
    let claims = match node.verifier.verify(&token) {
        Ok(claims) => claims,
        Err(e) => return auth_refusal(e),
    };
    let max = node.config.limits.max_connections as usize;
    if node
        .connections
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_err()
    {
        metrics::counter!(m::REFUSED_CONNECTIONS, "reason" => "over_capacity").increment(1);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "over_capacity",
            "the server is at its connection limit; retry with backoff",
        )
        .into_response();
    }
    metrics::gauge!(m::CONNECTIONS).set(node.connections.load(Ordering::Acquire) as f64);
    let slot = ConnectionSlot { node: node.clone() };

    // The client's first known subprotocol wins; none known means JSON.
    let codec = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| p.split(','))
        .find_map(|p| Codec::from_subprotocol(p.trim()))
        .unwrap_or_default();
    let gateway = &node.config.gateway;
    let max_frame = node.config.limits.max_frame_bytes as usize;
    let mut ws = ws
        .read_buffer_size(gateway.ws_read_buffer_bytes as usize)
        .write_buffer_size(gateway.ws_write_buffer_bytes as usize)
        .max_message_size(max_frame)
        .max_frame_size(max_frame);
    if ws.requested_protocols().next().is_some() {
        ws = ws.protocols([codec.subprotocol()]);
    }
    let task_node = node.clone();
    ws.on_upgrade(move |socket| {
        let tracker = task_node.tasks.clone();
        tracker.track_future(run(socket, task_node, claims, codec, slot))
    })
}

fn auth_refusal(e: throng_auth::AuthError) -> Response {
    metrics::counter!(m::REFUSED_CONNECTIONS, "reason" => e.code()).increment(1);
    ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.message()).into_response()
}

struct JoinedRoom {
    handle: Arc<RoomHandle>,
}

struct Connection {
    id: ConnId,
    node: Arc<Node>,
    claims: Claims,
    /// `claims.sub`, shared with the rooms this connection joins.
    user: Arc<str>,
    /// The user's rate-limit bucket name in the hot state, built once.
    user_rate_key: String,
    codec: Codec,
    outbox: Outbox,
    rooms: HashMap<Arc<str>, JoinedRoom>,
}

/// Why the connection loop ended.
enum End {
    /// The peer closed or the socket failed: nothing more to send.
    Gone,
    /// We close with this code.
    Close(CloseCode, &'static str),
}

async fn run(
    mut socket: WebSocket,
    node: Arc<Node>,
    claims: Claims,
    codec: Codec,
    _slot: ConnectionSlot,
) {
    let (sender, mut outbound) = mpsc::channel(node.config.gateway.outbound_queue as usize);
    let id = node.next_conn_id();
    let mut conn = Connection {
        id,
        node: node.clone(),
        user_rate_key: format!("user:{}", claims.sub),
        user: Arc::from(claims.sub.as_str()),
        claims,
        codec,
        outbox: Outbox { sender, codec },
        rooms: HashMap::new(),
    };
    metrics::counter!(m::CONNECTIONS_OPENED).increment(1);
    let heartbeat = Duration::from_millis(u64::from(node.config.gateway.heartbeat_ms));
    let hello = ServerFrame::Hello {
        conn_id: format!("{}-{id}", node.node_id),
        user: conn.claims.sub.clone(),
        server_ts: throng_backend::unix_ms(),
        heartbeat_ms: node.config.gateway.heartbeat_ms,
        max_frame_bytes: node.config.limits.max_frame_bytes,
    };
    let end = if socket.send(conn.encode(&hello)).await.is_err() {
        End::Gone
    } else {
        conn.serve(&mut socket, &mut outbound, heartbeat).await
    };
    if let End::Close(code, reason) = end {
        let frame = CloseFrame {
            code: code.0,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            socket.send(WsMessage::Close(Some(frame))),
        )
        .await;
    }
    conn.leave_all().await;
}

impl Connection {
    fn has_role(&self, role: &str) -> bool {
        self.claims.roles.iter().any(|r| r == role)
    }

    /// A member's write to the room's attributes.
    async fn attr_write(
        &mut self,
        id: Option<u32>,
        room: String,
        write: throng_backend::AttrWrite,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        let Some(joined) = self.rooms.get(room.as_str()) else {
            return Err(not_joined(&room));
        };
        let settings = joined.handle.settings();
        let allowed = settings.attribute_writers == throng_room::AttributeWriters::Members
            || self.has_role(MODERATOR_ROLE)
            || self.has_role(SYSTEM_ROLE);
        if !allowed {
            return Err((
                ErrorCode::FORBIDDEN,
                "this room's attributes are written by moderators".into(),
            ));
        }
        let handle = joined.handle.clone();
        let owned = matches!(
            write,
            throng_backend::AttrWrite::Set {
                delete_on_leave: true,
                ..
            }
        );
        match crate::attributes::write(&self.node.backends, &room, &settings, write).await {
            Ok(version) => {
                if owned {
                    // Ahead of this connection's leave on the same queue, so the host
                    // knows to clean up after it.
                    let _ = handle.commands.send(Command::AttributesOwned).await;
                }
                Ok(ServerFrame::AttrSaved { id, room, version })
            }
            Err(crate::attributes::WriteError::Refused(e)) => Err(crate::attributes::refusal(&e)),
            Err(crate::attributes::WriteError::Backend(e)) => Err(unavailable(e)),
        }
    }

    async fn attr_pull(
        &mut self,
        id: Option<u32>,
        room: String,
        since: u64,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        if !self.rooms.contains_key(room.as_str()) {
            return Err(not_joined(&room));
        }
        let answer = self
            .node
            .backends
            .hot
            .attr_since(&room, since)
            .await
            .map_err(unavailable)?;
        let (changes, snapshot) = crate::attributes::split(answer);
        Ok(ServerFrame::Attrs {
            id,
            room,
            changes,
            snapshot,
        })
    }

    /// A moderator's action from this connection.
    async fn moderate(
        &mut self,
        id: Option<u32>,
        room: String,
        action: throng_protocol::ModerateAction,
        user: Option<String>,
        duration_s: Option<u64>,
        reason: Option<String>,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        if !self.has_role(MODERATOR_ROLE) && !self.has_role(SYSTEM_ROLE) {
            return Err((
                ErrorCode::FORBIDDEN,
                format!("moderating needs the {MODERATOR_ROLE:?} role"),
            ));
        }
        validate::room_id(&room)?;
        if reason.as_ref().is_some_and(|r| r.len() > 512) {
            return Err((
                ErrorCode::INVALID_VALUE,
                "reason is at most 512 bytes".into(),
            ));
        }
        let request = crate::moderation::Action {
            room: Some(&room),
            action,
            user: user.as_deref(),
            duration: duration_s.map(Duration::from_secs),
            reason: reason.as_deref(),
            by: &self.claims.sub,
        };
        match self.node.moderate(request).await {
            Ok(_) => Ok(ServerFrame::Moderated { id, room, action }),
            Err(crate::moderation::ModerationError::Backend(e)) => Err(unavailable(e)),
            Err(crate::moderation::ModerationError::Full(e)) => {
                Err((ErrorCode::UNAVAILABLE, e.to_string()))
            }
            Err(e) => Err((ErrorCode::INVALID_VALUE, e.to_string())),
        }
    }

    fn encode(&self, frame: &ServerFrame) -> WsMessage {
        ws_message(self.codec, self.codec.encode_server(frame))
    }

    async fn serve(
        &mut self,
        socket: &mut WebSocket,
        outbound: &mut mpsc::Receiver<Outbound>,
        heartbeat: Duration,
    ) -> End {
        let mut drain = self.node.drain_signal();
        if *drain.borrow_and_update() {
            return End::Close(CloseCode::DRAINING, "server draining");
        }
        let mut last_heard = Instant::now();
        let mut heartbeat_check = tokio::time::interval(heartbeat);
        heartbeat_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Close when the handshake would refuse the token too (exp plus the configured
        // leeway); closing at exp itself would let the client reconnect with the same
        // token for `leeway_s` and be closed again at once, in a loop.
        let expires = expiry_instant(self.claims.exp + u64::from(self.node.config.auth.leeway_s));
        // Built once, not per loop turn: `select!` would otherwise register a new timer
        // and a new drain waiter for every frame this connection writes.
        let expiry = tokio::time::sleep_until(expires);
        tokio::pin!(expiry);
        // The flag only ever turns on, so any change means draining.
        let drained = async move {
            let _ = drain.changed().await;
        };
        tokio::pin!(drained);
        loop {
            tokio::select! {
                biased;
                _ = &mut drained => return End::Close(CloseCode::DRAINING, "server draining"),
                Some(out) = outbound.recv() => {
                    let written = match out {
                        Outbound::Batch { message, done } => {
                            let result = socket.send(message).await;
                            done.store(false, Ordering::Release);
                            result
                        }
                        Outbound::Left { room, message } => {
                            if self.rooms.remove(&room).is_some() {
                                self.node.online_delta(&room, -1).await;
                            }
                            socket.send(message).await
                        }
                        Outbound::Event(message) => socket.send(message).await,
                    };
                    if written.is_err() {
                        return End::Gone;
                    }
                }
                incoming = socket.recv() => {
                    last_heard = Instant::now();
                    let reply = match incoming {
                        None => return End::Gone,
                        Some(Err(e)) => return read_error_end(e),
                        // Boxed: a request's state (join, send, moderation...) lives on the
                        // heap while it runs, so the idle connection task stays small.
                        Some(Ok(WsMessage::Text(text))) => Box::pin(self.handle_bytes(Codec::Json, text.as_bytes())).await,
                        Some(Ok(WsMessage::Binary(bytes))) => Box::pin(self.handle_bytes(Codec::MsgPack, &bytes)).await,
                        Some(Ok(WsMessage::Close(_))) => return End::Gone,
                        Some(Ok(_)) => None, // pings are answered by the WebSocket layer
                    };
                    if let Some(reply) = reply {
                        if socket.send(self.encode(&reply)).await.is_err() {
                            return End::Gone;
                        }
                    }
                }
                _ = heartbeat_check.tick() => {
                    if last_heard.elapsed() > heartbeat * 2 {
                        metrics::counter!(m::CLOSED, "code" => "heartbeat_timeout").increment(1);
                        return End::Close(CloseCode::HEARTBEAT_TIMEOUT, "no frame within two heartbeat intervals");
                    }
                }
                _ = &mut expiry => {
                    return End::Close(CloseCode::TOKEN_EXPIRED, "token expired");
                }
            }
        }
    }

    async fn handle_bytes(&mut self, codec: Codec, bytes: &[u8]) -> Option<ServerFrame> {
        let frame = match codec.decode_client(bytes) {
            Ok(frame) => frame,
            Err(e) => return Some(error_frame(None, None, ErrorCode::BAD_FRAME, e.to_string())),
        };
        let id = frame.id();
        let room = frame.room().map(str::to_owned);
        let result = match frame {
            ClientFrame::Join {
                id,
                room,
                since,
                mode,
            } => self.join(id, room, since, mode).await,
            ClientFrame::Leave { id, room } => self.leave(id, room).await,
            ClientFrame::Send {
                id,
                room,
                kind,
                body,
                priority,
                reliable,
                msg_id,
            } => {
                self.publish(id, room, kind, body, priority, reliable, msg_id)
                    .await
            }
            ClientFrame::Ack { room, seqs } => return self.ack(room, seqs).await,
            ClientFrame::Pull {
                id,
                room,
                since,
                limit,
            } => self.pull(id, room, since, limit).await,
            ClientFrame::AttrSet {
                id,
                room,
                key,
                value,
                delete_on_leave,
                expect_version,
            } => {
                let by = Some(self.claims.sub.clone());
                let write = throng_backend::AttrWrite::Set {
                    key,
                    value,
                    by,
                    delete_on_leave,
                    expect_version,
                };
                self.attr_write(id, room, write).await
            }
            ClientFrame::AttrDelete {
                id,
                room,
                key,
                expect_version,
            } => {
                let by = Some(self.claims.sub.clone());
                self.attr_write(
                    id,
                    room,
                    throng_backend::AttrWrite::Delete {
                        key,
                        by,
                        expect_version,
                    },
                )
                .await
            }
            ClientFrame::AttrPull { id, room, since } => self.attr_pull(id, room, since).await,
            ClientFrame::Moderate {
                id,
                room,
                action,
                user,
                duration_s,
                reason,
            } => {
                self.moderate(id, room, action, user, duration_s, reason)
                    .await
            }
            ClientFrame::Ping { id } => Ok(ServerFrame::Pong {
                id,
                ts: throng_backend::unix_ms(),
            }),
        };
        Some(result.unwrap_or_else(|(code, message)| {
            metrics::counter!(m::REQUEST_ERRORS, "code" => code.name()).increment(1);
            error_frame(id, room, code, message)
        }))
    }

    async fn join(
        &mut self,
        id: Option<u32>,
        room: String,
        since: Option<u64>,
        mode: DeliveryMode,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        validate::room_id(&room)?;
        if let Err(denied) = self.node.check_join(&room, &self.claims.sub) {
            return Err(crate::moderation::denied_reply(&room, denied));
        }
        let already = self.rooms.contains_key(room.as_str());
        let max_rooms = self.node.config.limits.max_rooms_per_connection as usize;
        if !already && self.rooms.len() >= max_rooms {
            return Err((
                ErrorCode::TOO_MANY_ROOMS,
                format!("a connection may join at most {max_rooms} rooms"),
            ));
        }
        // A host that is stopping drops the join's reply; look it up again and retry.
        for _ in 0..3 {
            let handle = match self.node.room_for_join(&room).await {
                RoomLookup::Found(handle) => handle,
                RoomLookup::Unknown => {
                    return Err((
                        ErrorCode::UNKNOWN_ROOM,
                        format!("room {room:?} does not exist"),
                    ))
                }
                RoomLookup::NodeFull => {
                    return Err((
                        ErrorCode::UNAVAILABLE,
                        "the server holds as many rooms as it may (rooms.max_rooms)".into(),
                    ))
                }
                RoomLookup::Failed(e) => return Err(unavailable(e)),
            };
            let (reply, answer) = oneshot::channel();
            let whitelisted =
                self.has_role(SYSTEM_ROLE) || self.node.is_whitelisted(&room, &self.claims.sub);
            let command = Command::Join {
                conn: self.id,
                user: self.user.clone(),
                codec: self.codec,
                mode,
                since,
                whitelisted,
                outbox: self.outbox.clone(),
                reply,
            };
            if handle.commands.send(command).await.is_err() {
                continue;
            }
            let snapshot = match answer.await {
                Ok(Ok(snapshot)) => snapshot,
                Ok(Err(RoomError::Full(max))) => {
                    return Err((
                        ErrorCode::ROOM_FULL,
                        format!("room {room:?} is full ({max} members)"),
                    ))
                }
                Ok(Err(RoomError::NotJoined)) => {
                    return Err((ErrorCode::INTERNAL, "join refused".into()))
                }
                Err(_) => continue,
            };
            let online = if already {
                self.node.online(&room).await
            } else {
                self.node.online_delta(&room, 1).await
            };
            if !already {
                announce_presence(&self.node, &handle, &self.claims.sub, "join").await;
            }
            self.rooms.insert(handle.id.clone(), JoinedRoom { handle });
            metrics::counter!(m::JOINS).increment(1);
            // Every join, resumes included, gets the full set: a version from before a
            // restart would not match this server's change log.
            let attrs = crate::attributes::snapshot(&self.node.backends, &room)
                .await
                .map_err(unavailable)?;
            return Ok(ServerFrame::Joined {
                id,
                room,
                seq: snapshot.seq,
                online,
                mode,
                msgs: snapshot.msgs.iter().map(|m| m.message.clone()).collect(),
                skipped: snapshot.skipped.non_empty(),
                attrs,
            });
        }
        Err((
            ErrorCode::UNAVAILABLE,
            "the room is restarting; retry".into(),
        ))
    }

    async fn leave(
        &mut self,
        id: Option<u32>,
        room: String,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        let Some(joined) = self.rooms.remove(room.as_str()) else {
            return Err(not_joined(&room));
        };
        let _ = joined
            .handle
            .commands
            .send(Command::Leave { conn: self.id })
            .await;
        self.node.online_delta(&room, -1).await;
        announce_presence(&self.node, &joined.handle, &self.claims.sub, "leave").await;
        Ok(ServerFrame::Left {
            id,
            room,
            reason: throng_protocol::LeaveReason::Requested,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &mut self,
        id: Option<u32>,
        room: String,
        kind: String,
        body: serde_json::Value,
        priority: Option<Priority>,
        reliable: bool,
        msg_id: Option<String>,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        let Some(joined) = self.rooms.get(room.as_str()) else {
            return Err(not_joined(&room));
        };
        let handle = joined.handle.clone();
        if let Err(denied) = self.node.check_send(&room, &self.claims.sub) {
            return Err(crate::moderation::denied_reply(&room, denied));
        }
        let whitelisted = self.node.is_whitelisted(&room, &self.claims.sub);
        if priority == Some(Priority::System) && !whitelisted && !self.has_role(SYSTEM_ROLE) {
            return Err((
                ErrorCode::FORBIDDEN,
                format!("system priority needs the {SYSTEM_ROLE:?} role"),
            ));
        }
        validate::kind(&kind)?;
        validate::body_size(&body, self.node.config.limits.max_message_bytes)?;
        let settings = handle.settings();
        if reliable
            && settings.reliable.senders == throng_room::ReliableSenders::Moderators
            && !self.has_role(SYSTEM_ROLE)
            && !self.has_role(MODERATOR_ROLE)
        {
            return Err((
                ErrorCode::FORBIDDEN,
                format!(
                    "reliable messages need the {MODERATOR_ROLE:?} or {SYSTEM_ROLE:?} role in this room"
                ),
            ));
        }
        // Whitelisted users' messages go in the system lane (never dropped, no room rate).
        let priority = if whitelisted {
            Priority::System
        } else {
            crate::publish::lane(&settings, &kind, priority, reliable)
        };
        let limits = &self.node.config.limits;
        if !self
            .node
            .backends
            .hot
            .take_token(
                &self.user_rate_key,
                limits.user_rate_per_sec,
                limits.user_burst,
            )
            .await
            .map_err(unavailable)?
        {
            return Err((
                ErrorCode::RATE_LIMITED,
                format!(
                    "at most {} messages per second per user",
                    limits.user_rate_per_sec
                ),
            ));
        }
        // The word filter comes after the user's rate (it costs more) and before publishing.
        let body = match self.node.filter().check(&body) {
            throng_filter::Verdict::Clean => body,
            throng_filter::Verdict::Masked(masked) => masked,
            throng_filter::Verdict::Rejected { list } => {
                metrics::counter!(m::FILTERED, "list" => list).increment(1);
                return Err((
                    ErrorCode::FILTERED,
                    "the message contains words that are not allowed".into(),
                ));
            }
        };
        let publication = crate::publish::Publication {
            room: &room,
            from: self.claims.sub.clone(),
            kind,
            body,
            priority,
            reliable,
            msg_id,
        };
        let (seq, ts, dropped) =
            match crate::publish::publish(&self.node, &settings, Some(&handle), publication).await?
            {
                Published::Message(message) => (message.seq, message.ts, false),
                Published::Duplicate(message) => (message.seq, message.ts, false),
                Published::Dropped => (0, throng_backend::unix_ms(), true),
            };
        Ok(ServerFrame::Sent {
            id,
            room,
            seq,
            ts,
            dropped,
        })
    }

    /// A member acknowledged reliable messages: the room stops carrying them to it.
    async fn ack(&mut self, room: String, seqs: Vec<u64>) -> Option<ServerFrame> {
        if seqs.len() > MAX_ACK_SEQS {
            return Some(error_frame(
                None,
                Some(room),
                ErrorCode::INVALID_VALUE,
                format!("an ack carries at most {MAX_ACK_SEQS} seqs"),
            ));
        }
        let Some(joined) = self.rooms.get(room.as_str()) else {
            let (code, message) = not_joined(&room);
            return Some(error_frame(None, Some(room), code, message));
        };
        // Best effort: a lost ack only means the message is carried once more.
        let _ = joined.handle.commands.try_send(Command::Ack {
            conn: self.id,
            seqs,
        });
        None
    }

    async fn pull(
        &mut self,
        id: Option<u32>,
        room: String,
        since: u64,
        limit: Option<u32>,
    ) -> Result<ServerFrame, (ErrorCode, String)> {
        let Some(joined) = self.rooms.get(room.as_str()) else {
            return Err(not_joined(&room));
        };
        let limit = limit.unwrap_or(200);
        if limit == 0 || limit > MAX_PULL {
            return Err((
                ErrorCode::INVALID_VALUE,
                format!("limit must be between 1 and {MAX_PULL}"),
            ));
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Pull {
            conn: self.id,
            since,
            limit,
            reply,
        };
        if joined.handle.commands.send(command).await.is_err() {
            return Err((
                ErrorCode::UNAVAILABLE,
                "the room is restarting; join again".into(),
            ));
        }
        match answer.await {
            Ok(Ok(snapshot)) => Ok(ServerFrame::Pulled {
                id,
                room,
                seq: snapshot.seq,
                msgs: snapshot.msgs.iter().map(|m| m.message.clone()).collect(),
                skipped: snapshot.skipped.non_empty(),
            }),
            Ok(Err(_)) => {
                // The room dropped us (notify-pull policy) before this pull arrived.
                self.rooms.remove(room.as_str());
                Err(not_joined(&room))
            }
            Err(_) => Err((
                ErrorCode::UNAVAILABLE,
                "the room is restarting; join again".into(),
            )),
        }
    }

    async fn leave_all(&mut self) {
        for (room, joined) in self.rooms.drain() {
            let _ = joined
                .handle
                .commands
                .send(Command::Leave { conn: self.id })
                .await;
            self.node.online_delta(&room, -1).await;
            announce_presence(&self.node, &joined.handle, &self.claims.sub, "leave").await;
        }
    }
}

/// Publishes a `join` or `leave` notice from the server when the room asks for them
/// (`presence_notices`); their type policy (merge, by default) turns a crowd into one line.
/// Best effort: a notice refused by the room's rate is left out.
async fn announce_presence(node: &Node, handle: &RoomHandle, user: &str, kind: &str) {
    let settings = handle.settings();
    if !settings.presence_notices {
        return;
    }
    let publication = crate::publish::Publication {
        room: &handle.id,
        from: SERVER_SENDER.to_owned(),
        kind: kind.to_owned(),
        body: serde_json::json!({ "user": user }),
        priority: crate::publish::lane(&settings, kind, None, false),
        reliable: false,
        msg_id: None,
    };
    if let Err((code, message)) =
        crate::publish::publish(node, &settings, Some(handle), publication).await
    {
        tracing::debug!(room = %handle.id, %code, message, "presence notice not published");
    }
}

fn read_error_end(e: axum::Error) -> End {
    // The WebSocket layer refuses a frame or message over max_frame_bytes with a
    // capacity error; anything else means the connection is gone.
    let oversized = e
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if oversized {
        metrics::counter!(m::CLOSED, "code" => "frame_too_large").increment(1);
        End::Close(
            CloseCode::FRAME_TOO_LARGE,
            "frame larger than max_frame_bytes",
        )
    } else {
        End::Gone
    }
}

fn expiry_instant(exp: u64) -> Instant {
    let left = exp
        .saturating_mul(1000)
        .saturating_sub(throng_backend::unix_ms());
    // Cap far-future expiries so the deadline stays representable.
    Instant::now() + Duration::from_millis(left.min(365 * 24 * 3600 * 1000))
}

fn error_frame(
    id: Option<u32>,
    room: Option<String>,
    code: ErrorCode,
    message: String,
) -> ServerFrame {
    ServerFrame::Error {
        id,
        code,
        message,
        room,
    }
}

fn not_joined(room: &str) -> (ErrorCode, String) {
    (ErrorCode::NOT_JOINED, format!("join room {room:?} first"))
}

fn unavailable(e: throng_backend::BackendError) -> (ErrorCode, String) {
    tracing::warn!(error = %e, "backend error on a client request");
    (
        ErrorCode::UNAVAILABLE,
        "a backend is unavailable; retry later".into(),
    )
}
