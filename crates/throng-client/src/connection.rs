//! The background task of one client: the only owner of the socket.
//!
//! It reads and writes frames, sends heartbeats, matches replies to requests, applies
//! frames to the room book, emits events, and on a loss reconnects and resumes. The
//! decisions live in plain structs ([`RoomBook`], [`PendingRequests`],
//! [`ReconnectPolicy`]); this file only wires them to the socket and the channels.
//!
//! Reliable messages: after applying a `joined`, `batch` or `pulled` frame of a room the
//! client is in, the task writes `ack` frames for its reliable messages, repeats included
//! (see [`crate::reliable`]).
//!
//! Flow control: the task never reads the socket while an event waits for room in the
//! events channel (so a slow app slows the server's writes, which is how the server learns
//! to skip messages for it), but it keeps taking requests and sending heartbeats.

use crate::backoff::ReconnectPolicy;
use crate::config::ClientConfig;
use crate::endpoint::websocket_url;
use crate::error::ClientError;
use crate::event::{Event, Hello, Joined, Pulled, Sent};
use crate::likes::{like_body, PendingLikes, LIKE_KIND};
use crate::pending::{reply_id, PendingRequests, RequestKind};
use crate::reliable;
use crate::rooms::{JoinedReply, RoomBook};
use crate::transport::{self, WsStream};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use throng_protocol::attrs::Since;
use throng_protocol::{
    ClientFrame, CloseCode, DeliveryMode, Message, ModerateAction, Priority, ServerFrame, Skipped,
};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

/// How long a closing client waits for the server to answer its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Heartbeat used when a server announces `heartbeat_ms: 0`, so the ping timer never
/// spins.
const MIN_HEARTBEAT: Duration = Duration::from_secs(1);

/// State the [`crate::Client`] handles read without a round trip to the task. Locks are
/// std mutexes held for a few field reads, never across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    pub rooms: Mutex<RoomBook>,
    /// Taps of `Client::like` not sent yet; the task sends them when due.
    pub likes: Mutex<PendingLikes>,
    /// Taps of `Client::like` that did not reach their room's counter, in all rooms.
    pub likes_lost: AtomicU64,
    pub hello: Mutex<Hello>,
    pub token: Mutex<String>,
    pub connected: AtomicBool,
    pub close_requested: AtomicBool,
    pub drop_requested: AtomicBool,
    /// Wakes the task for `close_requested` / `drop_requested` and new likes. A `Notify` keeps one
    /// wake-up if the task is busy, so a request is never missed.
    pub wake: Notify,
}

impl Shared {
    pub fn new(hello: Hello, token: String) -> Shared {
        Shared {
            rooms: Mutex::new(RoomBook::default()),
            likes: Mutex::new(PendingLikes::new()),
            likes_lost: AtomicU64::new(0),
            hello: Mutex::new(hello),
            token: Mutex::new(token),
            connected: AtomicBool::new(true),
            close_requested: AtomicBool::new(false),
            drop_requested: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub fn rooms(&self) -> MutexGuard<'_, RoomBook> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn likes(&self) -> MutexGuard<'_, PendingLikes> {
        self.likes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn hello(&self) -> MutexGuard<'_, Hello> {
        self.hello.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn token(&self) -> MutexGuard<'_, String> {
        self.token.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request from the app, before it gets an id.
#[derive(Debug)]
pub(crate) enum Request {
    Join {
        room: String,
        mode: DeliveryMode,
    },
    Leave {
        room: String,
    },
    Send {
        room: String,
        kind: String,
        body: serde_json::Value,
        priority: Option<Priority>,
        reliable: bool,
        msg_id: Option<String>,
    },
    Pull {
        room: String,
        since: u64,
        limit: Option<u32>,
    },
    Ping,
    Moderate {
        room: String,
        action: ModerateAction,
        user: Option<String>,
        duration_s: Option<u64>,
        reason: Option<String>,
    },
    AttrSet {
        room: String,
        key: String,
        value: serde_json::Value,
        delete_on_leave: bool,
        expect_version: Option<u64>,
    },
    AttrDelete {
        room: String,
        key: String,
        expect_version: Option<u64>,
    },
    AttrPull {
        room: String,
        since: u64,
    },
}

impl Request {
    fn kind(&self) -> RequestKind {
        match self {
            Request::Join { .. } => RequestKind::Join,
            Request::Leave { .. } => RequestKind::Leave,
            Request::Send { .. } => RequestKind::Send,
            Request::Pull { .. } => RequestKind::Pull,
            Request::Ping => RequestKind::Ping,
            Request::Moderate { .. } => RequestKind::Moderate,
            Request::AttrSet { .. } | Request::AttrDelete { .. } => RequestKind::AttrWrite,
            Request::AttrPull { .. } => RequestKind::AttrPull,
        }
    }

    /// The wire frame; `join_since` is the `since` the room book chose for a join.
    fn into_frame(self, id: u32, join_since: Option<u64>) -> ClientFrame {
        let id = Some(id);
        match self {
            Request::Join { room, mode } => ClientFrame::Join {
                id,
                room,
                since: join_since,
                mode,
            },
            Request::Leave { room } => ClientFrame::Leave { id, room },
            Request::Send {
                room,
                kind,
                body,
                priority,
                reliable,
                msg_id,
            } => ClientFrame::Send {
                id,
                room,
                kind,
                body,
                priority,
                msg_id,
                reliable,
            },
            Request::Pull { room, since, limit } => ClientFrame::Pull {
                id,
                room,
                since,
                limit,
            },
            Request::Ping => ClientFrame::Ping { id },
            Request::Moderate {
                room,
                action,
                user,
                duration_s,
                reason,
            } => ClientFrame::Moderate {
                id,
                room,
                action,
                user,
                duration_s,
                reason,
            },
            Request::AttrSet {
                room,
                key,
                value,
                delete_on_leave,
                expect_version,
            } => ClientFrame::AttrSet {
                id,
                room,
                key,
                value,
                delete_on_leave,
                expect_version,
            },
            Request::AttrDelete {
                room,
                key,
                expect_version,
            } => ClientFrame::AttrDelete {
                id,
                room,
                key,
                expect_version,
            },
            Request::AttrPull { room, since } => ClientFrame::AttrPull { id, room, since },
        }
    }
}

/// A successful reply, already applied to the room book.
#[derive(Debug)]
pub(crate) enum Reply {
    Joined(Joined),
    Left,
    Sent(Sent),
    Pulled(Pulled),
    Pong,
    Moderated,
    AttrSaved(u64),
    Attrs(Since),
}

pub(crate) type ReplySender = oneshot::Sender<Result<Reply, ClientError>>;

#[derive(Debug)]
pub(crate) enum Command {
    Request {
        request: Request,
        reply: ReplySender,
    },
    Raw {
        bytes: Vec<u8>,
        binary: bool,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
}

/// Who gets the reply of a request in flight.
#[derive(Debug)]
enum Waiter {
    /// The app; `since` is what the request carried (joins and pulls), needed to apply
    /// the reply.
    App {
        reply: ReplySender,
        since: Option<u64>,
    },
    /// The SDK's own join of a room after a reconnect.
    ResumeJoin { room: String },
    /// The SDK's own pull after a `notify`.
    AutoPull { room: String, since: u64 },
    /// The SDK's like message carrying `taps` taps of `Client::like`.
    Like { room: String, taps: u32 },
}

impl Waiter {
    /// The app stopped waiting (its request timed out).
    fn is_abandoned(&self) -> bool {
        matches!(self, Waiter::App { reply, .. } if reply.is_closed())
    }
}

/// Why serving one connection ended.
#[derive(Debug)]
enum Ending {
    /// The app called `close`, or dropped every handle.
    Closing,
    /// The connection went down; `close_code` is set if the server sent a close frame.
    Lost {
        close_code: Option<CloseCode>,
        reason: String,
    },
}

impl Ending {
    fn lost(reason: impl Into<String>) -> Ending {
        Ending::Lost {
            close_code: None,
            reason: reason.into(),
        }
    }
}

enum Reconnect {
    /// Boxed: a socket is large and this value only moves once per reconnect.
    Connected(Box<WsStream>, Hello),
    /// Reconnecting stopped for good; the reason goes in the final `Disconnected`.
    GaveUp(String),
    /// The app closed the client meanwhile.
    Closing,
}

/// What one step of waiting while disconnected asks for.
enum Idle {
    Continue,
    Closing,
}

pub(crate) struct ConnectionTask {
    config: ClientConfig,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// False once the app dropped its `Events`: events are then discarded.
    events_open: bool,
    /// Events waiting for room in the channel. Holds only a few: the socket is not read
    /// while it is not empty, and each frame makes at most one event.
    outbox: VecDeque<Event>,
    pending: PendingRequests<Waiter>,
    last_sent: Instant,
    /// Reconnect attempts since the last stable connection (see
    /// [`ReconnectPolicy::stable_after`]).
    attempt: u32,
    rng: StdRng,
    /// Set once the socket is closed, for `Client::close` to return.
    finished: watch::Sender<bool>,
}

impl ConnectionTask {
    pub fn new(
        config: ClientConfig,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        finished: watch::Sender<bool>,
    ) -> ConnectionTask {
        ConnectionTask {
            config,
            shared,
            commands,
            events,
            events_open: true,
            outbox: VecDeque::new(),
            pending: PendingRequests::default(),
            last_sent: Instant::now(),
            attempt: 0,
            rng: StdRng::from_entropy(),
            finished,
        }
    }

    fn policy(&self) -> &ReconnectPolicy {
        &self.config.reconnect
    }

    /// Serves connections until the client is closed for good.
    pub async fn run(mut self, ws: WsStream, hello: Hello) {
        let mut current = (ws, hello);
        let mut resuming = false;
        loop {
            let (mut ws, hello) = current;
            *self.shared.hello() = hello.clone();
            self.shared.connected.store(true, Ordering::SeqCst);
            let connected_at = Instant::now();
            let ending = self.serve(&mut ws, hello.heartbeat(), resuming).await;
            self.shared.connected.store(false, Ordering::SeqCst);
            self.attempt = self
                .policy()
                .attempts_after_loss(self.attempt, connected_at.elapsed());
            self.fail_pending();
            let (close_code, reason) = match ending {
                Ending::Closing => {
                    close_gracefully(&mut ws).await;
                    break;
                }
                Ending::Lost { close_code, reason } => (close_code, reason),
            };
            drop(ws);
            let will_reconnect = close_code.is_none_or(CloseCode::should_reconnect)
                && self.policy().allows_attempt(self.attempt);
            tracing::debug!(?close_code, %reason, will_reconnect, "connection lost");
            self.emit(Event::Disconnected {
                close_code,
                reason,
                will_reconnect,
            });
            if !will_reconnect {
                break;
            }
            match self.reconnect().await {
                Reconnect::Connected(ws, hello) => {
                    current = (*ws, hello);
                    resuming = true;
                }
                Reconnect::GaveUp(reason) => {
                    self.emit(Event::Disconnected {
                        close_code: None,
                        reason,
                        will_reconnect: false,
                    });
                    break;
                }
                Reconnect::Closing => break,
            }
        }
        self.finish().await;
    }

    /// Ends the task: refuses what is queued, then hands the app its last events.
    async fn finish(mut self) {
        {
            // Under the likes lock, so that a `Client::like` either sees the client
            // finished or adds taps this drain reports.
            let mut likes = self.shared.likes();
            for (room, count) in likes.drain() {
                tracing::debug!(%room, count, "likes not sent: the client closed");
                self.shared.likes_lost.fetch_add(count, Ordering::SeqCst);
            }
            self.finished.send_replace(true);
        }
        // From here `Client` calls fail at once with `Closed` instead of waiting in the
        // queue.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            refuse(command, ClientError::Closed);
        }
        self.emit(Event::Closed);
        // Waits for the app to take them (or drop `Events`); there are only a few.
        while let Some(event) = self.outbox.pop_front() {
            if self.events.send(event).await.is_err() {
                break;
            }
        }
    }

    fn emit(&mut self, event: Event) {
        if self.events_open {
            self.outbox.push_back(event);
        }
    }

    /// Hands the oldest waiting event to the app. The permit comes from
    /// `self.events.clone().reserve_owned()`: an owned permit does not borrow `self`.
    fn deliver(&mut self, permit: Result<mpsc::OwnedPermit<Event>, mpsc::error::SendError<()>>) {
        match permit {
            Ok(permit) => {
                if let Some(event) = self.outbox.pop_front() {
                    permit.send(event);
                }
            }
            Err(_) => {
                self.events_open = false;
                self.outbox.clear();
            }
        }
    }

    /// Fails every request in flight: the connection that would answer is gone. The
    /// SDK's own requests are simply forgotten (resumes are sent again on the next
    /// connection, and the next notify starts a new pull).
    fn fail_pending(&mut self) {
        for request in self.pending.drain() {
            self.fail_waiter(request.waiter, ClientError::Closed);
        }
        self.shared.rooms().abandon_all_auto_pulls();
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, ws: &mut WsStream, heartbeat: Duration, resuming: bool) -> Ending {
        let heartbeat = if heartbeat.is_zero() {
            MIN_HEARTBEAT
        } else {
            heartbeat
        };
        let ping_after = heartbeat / 2;
        // The server answers our pings, so this long without a frame means the link is
        // dead even if TCP has not noticed.
        let silence_limit = heartbeat * 2;
        self.last_sent = Instant::now();
        let mut last_received = Instant::now();
        if resuming {
            if let Err(ending) = self.send_resuming_joins(ws).await {
                return ending;
            }
        }
        loop {
            let ping_at = self.last_sent + ping_after;
            let silent_at = last_received + silence_limit;
            let likes_at = self.shared.likes().next_due();
            let reading = self.outbox.is_empty();
            if !self.pending.has_room_for_app_request() {
                // Full: make room from requests whose callers timed out before waiting
                // for replies (the ping timer also sweeps, but may not fire while the
                // app keeps writing).
                self.pending.remove_abandoned(Waiter::is_abandoned);
            }
            tokio::select! {
                () = self.shared.wake.notified() => {
                    if self.shared.close_requested.load(Ordering::SeqCst) {
                        return Ending::Closing;
                    }
                    if self.shared.drop_requested.swap(false, Ordering::SeqCst) {
                        return Ending::lost("connection dropped by the application");
                    }
                }
                () = tokio::time::sleep_until(ping_at) => {
                    self.pending.remove_abandoned(Waiter::is_abandoned);
                    if let Err(ending) = self.write_frame(ws, &ClientFrame::Ping { id: None }).await {
                        return ending;
                    }
                }
                () = tokio::time::sleep_until(likes_at.unwrap_or(ping_at)), if likes_at.is_some() => {
                    if let Err(ending) = self.send_due_likes(ws).await {
                        return ending;
                    }
                }
                () = tokio::time::sleep_until(silent_at), if reading => {
                    return Ending::lost(format!("nothing from the server for {} ms", silence_limit.as_millis()));
                }
                permit = self.events.clone().reserve_owned(), if !reading => {
                    self.deliver(permit);
                    if self.outbox.is_empty() {
                        // The socket was not read meanwhile: its silence proves nothing.
                        last_received = Instant::now();
                    }
                }
                command = self.commands.recv(), if self.pending.has_room_for_app_request() => {
                    let Some(command) = command else {
                        return Ending::Closing;
                    };
                    if let Err(ending) = self.handle_command(ws, command).await {
                        return ending;
                    }
                }
                message = ws.next(), if reading => {
                    last_received = Instant::now();
                    if let Err(ending) = self.handle_message(ws, message).await {
                        return ending;
                    }
                }
            }
        }
    }

    async fn write_message(&mut self, ws: &mut WsStream, message: WsMessage) -> Result<(), Ending> {
        ws.send(message)
            .await
            .map_err(|e| Ending::lost(format!("write failed: {e}")))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    async fn write_frame(&mut self, ws: &mut WsStream, frame: &ClientFrame) -> Result<(), Ending> {
        let message = transport::encode(self.config.codec, frame);
        self.write_message(ws, message).await
    }

    /// Re-joins every room of the book from its resume position, then tells the app.
    async fn send_resuming_joins(&mut self, ws: &mut WsStream) -> Result<(), Ending> {
        let plan = self.shared.rooms().resume_plan();
        let mut resumed_rooms = Vec::with_capacity(plan.len());
        for (room, mode, since) in plan {
            let Ok(id) = self.pending.insert(
                RequestKind::Join,
                false,
                Waiter::ResumeJoin { room: room.clone() },
            ) else {
                unreachable!("SDK requests are never refused");
            };
            let frame = ClientFrame::Join {
                id: Some(id),
                room: room.clone(),
                since: Some(since),
                mode,
            };
            self.write_frame(ws, &frame).await?;
            resumed_rooms.push(room);
        }
        self.emit(Event::Reconnected { resumed_rooms });
        Ok(())
    }

    async fn send_auto_pull(
        &mut self,
        ws: &mut WsStream,
        room: String,
        since: u64,
    ) -> Result<(), Ending> {
        let Ok(id) = self.pending.insert(
            RequestKind::Pull,
            false,
            Waiter::AutoPull {
                room: room.clone(),
                since,
            },
        ) else {
            unreachable!("SDK requests are never refused");
        };
        let frame = ClientFrame::Pull {
            id: Some(id),
            room,
            since,
            limit: self.config.auto_pull_limit,
        };
        self.write_frame(ws, &frame).await
    }

    /// Sends the like messages that are due, one per room, each as an SDK request whose
    /// reply tells whether the taps counted.
    async fn send_due_likes(&mut self, ws: &mut WsStream) -> Result<(), Ending> {
        let due = self.shared.likes().take_due(Instant::now());
        for (room, taps) in due {
            let in_room = self.shared.rooms().contains(&room);
            if !in_room {
                // Left since the taps: the server would refuse them.
                self.shared.likes().remove(&room);
                self.likes_lost(
                    &room,
                    taps,
                    Some(ClientError::NotJoined { room: room.clone() }),
                );
                continue;
            }
            let Ok(id) = self.pending.insert(
                RequestKind::Send,
                false,
                Waiter::Like {
                    room: room.clone(),
                    taps,
                },
            ) else {
                unreachable!("SDK requests are never refused");
            };
            let frame = ClientFrame::Send {
                id: Some(id),
                room,
                kind: LIKE_KIND.to_owned(),
                body: like_body(taps),
                priority: None,
                msg_id: None,
                reliable: false,
            };
            self.write_frame(ws, &frame).await?;
        }
        Ok(())
    }

    /// Taps of `room` that did not reach its counter (`error` absent: the room's policy
    /// dropped them); the room may send its next like message.
    fn likes_lost(&mut self, room: &str, taps: u32, error: Option<ClientError>) {
        self.shared.likes().finished(room);
        tracing::debug!(%room, taps, ?error, "likes did not count");
        self.shared
            .likes_lost
            .fetch_add(u64::from(taps), Ordering::SeqCst);
        let reason = match &error {
            Some(error) => error.to_string(),
            None => "dropped: the room was over its rate".to_owned(),
        };
        self.emit(Event::LikesLost {
            room: room.to_owned(),
            taps,
            reason,
        });
    }

    /// A request failed without a proper reply: the app hears `error`; the SDK's own
    /// requests are forgotten (resumes are sent again on the next connection, the next
    /// notify starts a new pull), except likes, whose taps are reported lost.
    fn fail_waiter(&mut self, waiter: Waiter, error: ClientError) {
        match waiter {
            Waiter::App { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Waiter::Like { room, taps } => self.likes_lost(&room, taps, Some(error)),
            Waiter::ResumeJoin { .. } | Waiter::AutoPull { .. } => {}
        }
    }

    async fn handle_command(&mut self, ws: &mut WsStream, command: Command) -> Result<(), Ending> {
        match command {
            Command::Request { request, reply } => {
                if reply.is_closed() {
                    // The caller timed out while the request sat in the queue.
                    return Ok(());
                }
                let since = {
                    let mut rooms = self.shared.rooms();
                    match &request {
                        Request::Join { room, .. } => {
                            if !rooms.can_join(room) {
                                let _ = reply.send(Err(ClientError::TooManyRooms {
                                    limit: rooms.limit(),
                                }));
                                return Ok(());
                            }
                            rooms.since_for_join(room)
                        }
                        Request::Leave { room } => {
                            // Forget the room now, so a reconnect before the reply does
                            // not resume it; the `left` reply removes it again in case a
                            // `joined` still in flight re-added it.
                            rooms.remove(room);
                            None
                        }
                        Request::Pull { since, .. } => Some(*since),
                        Request::Send { .. }
                        | Request::Ping
                        | Request::Moderate { .. }
                        | Request::AttrSet { .. }
                        | Request::AttrDelete { .. }
                        | Request::AttrPull { .. } => None,
                    }
                };
                let kind = request.kind();
                let id = match self
                    .pending
                    .insert(kind, true, Waiter::App { reply, since })
                {
                    Ok(id) => id,
                    Err(waiter) => {
                        // Not reached: commands are only taken while there is room.
                        self.fail_waiter(waiter, ClientError::Closed);
                        return Ok(());
                    }
                };
                self.write_frame(ws, &request.into_frame(id, since)).await
            }
            Command::Raw {
                bytes,
                binary,
                reply,
            } => {
                let message = if binary {
                    WsMessage::Binary(bytes.into())
                } else {
                    match Utf8Bytes::try_from(bytes) {
                        Ok(text) => WsMessage::Text(text),
                        Err(_) => {
                            let _ = reply.send(Err(ClientError::Protocol(
                                "a text frame must be valid UTF-8".into(),
                            )));
                            return Ok(());
                        }
                    }
                };
                let written = self.write_message(ws, message).await;
                let _ = reply.send(
                    written
                        .as_ref()
                        .map(|_| ())
                        .map_err(|_| ClientError::Closed),
                );
                written
            }
        }
    }

    async fn handle_message(
        &mut self,
        ws: &mut WsStream,
        message: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), Ending> {
        let message = match message {
            None => return Err(Ending::lost("connection closed without a close frame")),
            Some(Err(e)) => return Err(Ending::lost(format!("read failed: {e}"))),
            Some(Ok(message)) => message,
        };
        if let WsMessage::Close(frame) = &message {
            let (code, reason) = transport::close_code_and_reason(frame.as_ref());
            // Send the close reply the WebSocket layer queued.
            let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
            return Err(Ending::Lost {
                close_code: Some(code),
                reason,
            });
        }
        match transport::decode(&message) {
            None => Ok(()),
            Some(Ok(frame)) => self.handle_frame(ws, frame).await,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "ignoring a server frame that does not decode");
                Ok(())
            }
        }
    }

    async fn handle_frame(&mut self, ws: &mut WsStream, frame: ServerFrame) -> Result<(), Ending> {
        if let Some(id) = reply_id(&frame) {
            if let Some(request) = self.pending.take(id) {
                if request.kind.accepts(&frame) {
                    return self.answer(ws, request.waiter, frame).await;
                }
                let problem = format!(
                    "a {} request got a {} reply",
                    request.kind.name(),
                    transport::frame_name(&frame)
                );
                tracing::warn!(id, %problem, "reply of the wrong type");
                self.fail_waiter(request.waiter, ClientError::Protocol(problem));
            }
        }
        self.unsolicited(ws, frame).await
    }

    /// A reply to a request in flight.
    async fn answer(
        &mut self,
        ws: &mut WsStream,
        waiter: Waiter,
        frame: ServerFrame,
    ) -> Result<(), Ending> {
        match (waiter, frame) {
            (
                waiter,
                ServerFrame::Error {
                    code,
                    message,
                    room,
                    ..
                },
            ) => match waiter {
                Waiter::App { reply, .. } => {
                    let _ = reply.send(Err(ClientError::Server { code, message }));
                }
                Waiter::ResumeJoin { room: resumed } => {
                    self.shared.rooms().remove(&resumed);
                    self.emit(Event::ServerError {
                        code,
                        message,
                        room: Some(room.unwrap_or(resumed)),
                    });
                }
                Waiter::Like { room, taps } => {
                    self.likes_lost(&room, taps, Some(ClientError::Server { code, message }));
                }
                Waiter::AutoPull { room: pulled, .. } => {
                    self.shared.rooms().abandon_auto_pull(&pulled);
                    self.emit(Event::ServerError {
                        code,
                        message,
                        room: Some(room.unwrap_or(pulled)),
                    });
                }
            },
            (
                waiter,
                ServerFrame::Joined {
                    room,
                    seq,
                    online,
                    mode,
                    msgs,
                    skipped,
                    attrs,
                    ..
                },
            ) => {
                let skipped = skipped.unwrap_or_default();
                let resumed = match &waiter {
                    Waiter::App { since, .. } => since.is_some(),
                    Waiter::ResumeJoin { .. } | Waiter::AutoPull { .. } | Waiter::Like { .. } => {
                        true
                    }
                };
                let acks = reliable::ack_frames(&room, &msgs);
                let fresh = self.shared.rooms().apply_joined(JoinedReply {
                    room: room.clone(),
                    mode,
                    seq,
                    msgs,
                    resumed,
                });
                match waiter {
                    Waiter::App { reply, .. } => {
                        let result = match fresh {
                            Some(msgs) => Ok(Reply::Joined(Joined {
                                room: room.clone(),
                                seq,
                                online,
                                mode,
                                msgs,
                                skipped,
                                attrs,
                            })),
                            None => Err(ClientError::TooManyRooms {
                                limit: self.shared.rooms().limit(),
                            }),
                        };
                        let _ = reply.send(result);
                    }
                    Waiter::ResumeJoin { .. } | Waiter::AutoPull { .. } | Waiter::Like { .. } => {
                        if let Some(snapshot) = attrs {
                            self.emit(Event::Attributes {
                                room: room.clone(),
                                snapshot,
                            });
                        }
                        self.emit_messages(room.clone(), fresh.unwrap_or_default(), skipped);
                    }
                }
                self.acknowledge(ws, &room, acks).await?;
            }
            (
                waiter,
                ServerFrame::Pulled {
                    room,
                    seq,
                    msgs,
                    skipped,
                    ..
                },
            ) => {
                let skipped = skipped.unwrap_or_default();
                let acks = reliable::ack_frames(&room, &msgs);
                match waiter {
                    Waiter::App { reply, since } => {
                        let msgs = self
                            .shared
                            .rooms()
                            .apply_pulled(&room, since.unwrap_or(0), seq, msgs, false)
                            .unwrap_or_default();
                        let _ = reply.send(Ok(Reply::Pulled(Pulled { seq, msgs, skipped })));
                        self.acknowledge(ws, &room, acks).await?;
                    }
                    Waiter::AutoPull { since, .. } => {
                        let (fresh, again) = {
                            let mut rooms = self.shared.rooms();
                            let fresh = rooms.apply_pulled(&room, since, seq, msgs, true);
                            (fresh, rooms.finish_auto_pull(&room, seq))
                        };
                        if let Some(fresh) = fresh {
                            self.emit_messages(room.clone(), fresh, skipped);
                        }
                        self.acknowledge(ws, &room, acks).await?;
                        if let Some(since) = again {
                            self.send_auto_pull(ws, room, since).await?;
                        }
                    }
                    waiter @ (Waiter::ResumeJoin { .. } | Waiter::Like { .. }) => {
                        tracing::warn!(?waiter, "a join got a pulled reply");
                    }
                }
            }
            (Waiter::App { reply, .. }, ServerFrame::Left { room, .. }) => {
                self.shared.rooms().remove(&room);
                let _ = reply.send(Ok(Reply::Left));
            }
            (
                Waiter::App { reply, .. },
                ServerFrame::Sent {
                    seq, ts, dropped, ..
                },
            ) => {
                let _ = reply.send(Ok(Reply::Sent(Sent { seq, ts, dropped })));
            }
            (Waiter::Like { room, taps }, ServerFrame::Sent { dropped, .. }) => {
                if dropped {
                    // The room's policy for likes drops them over its rate.
                    self.likes_lost(&room, taps, None);
                } else {
                    self.shared.likes().finished(&room);
                }
            }
            (Waiter::App { reply, .. }, ServerFrame::Pong { .. }) => {
                let _ = reply.send(Ok(Reply::Pong));
            }
            (Waiter::App { reply, .. }, ServerFrame::Moderated { .. }) => {
                let _ = reply.send(Ok(Reply::Moderated));
            }
            (Waiter::App { reply, .. }, ServerFrame::AttrSaved { version, .. }) => {
                let _ = reply.send(Ok(Reply::AttrSaved(version)));
            }
            (
                Waiter::App { reply, .. },
                ServerFrame::Attrs {
                    changes, snapshot, ..
                },
            ) => {
                let since = match snapshot {
                    Some(snapshot) => Since::Snapshot(snapshot),
                    None => Since::Changes(changes.unwrap_or_default()),
                };
                let _ = reply.send(Ok(Reply::Attrs(since)));
            }
            (waiter, frame) => {
                // `RequestKind::accepts` lets no other pair through.
                tracing::warn!(
                    ?waiter,
                    frame = transport::frame_name(&frame),
                    "unexpected reply"
                );
            }
        }
        Ok(())
    }

    /// A frame that answers no request in flight.
    async fn unsolicited(&mut self, ws: &mut WsStream, frame: ServerFrame) -> Result<(), Ending> {
        match frame {
            ServerFrame::Batch {
                room,
                msgs,
                skipped,
                upto,
            } => {
                let acks = reliable::ack_frames(&room, &msgs);
                let fresh = self.shared.rooms().apply_batch(&room, msgs, upto);
                if let Some(fresh) = fresh {
                    self.emit_messages(room.clone(), fresh, skipped.unwrap_or_default());
                }
                self.acknowledge(ws, &room, acks).await?;
            }
            ServerFrame::Notify { room, seq } => {
                if !self.shared.rooms().contains(&room) {
                    return Ok(());
                }
                if self.config.auto_pull {
                    let since = self.shared.rooms().start_auto_pull(&room, seq);
                    if let Some(since) = since {
                        self.send_auto_pull(ws, room, since).await?;
                    }
                } else {
                    self.emit(Event::Notify { room, seq });
                }
            }
            ServerFrame::AttrNotify { room, version } => {
                if self.shared.rooms().contains(&room) {
                    self.emit(Event::AttrNotify { room, version });
                }
            }
            ServerFrame::Stats(stats) => {
                if self.shared.rooms().contains(&stats.room) {
                    self.emit(Event::Stats(stats));
                }
            }
            ServerFrame::Moderation {
                room,
                action,
                user,
                until,
                reason,
                by,
            } => {
                self.emit(Event::Moderation {
                    room,
                    action,
                    user,
                    until,
                    reason,
                    by,
                });
            }
            ServerFrame::Left { id, room, reason } => {
                self.shared.rooms().remove(&room);
                // With an id it answers a leave the app stopped waiting for.
                if id.is_none() {
                    self.emit(Event::Left { room, reason });
                }
            }
            ServerFrame::Joined {
                room,
                seq,
                mode,
                msgs,
                skipped,
                ..
            } => {
                // The answer to a join the app stopped waiting for: the server did join,
                // so track the room and hand over its messages.
                let resumed = self.shared.rooms().contains(&room);
                let acks = reliable::ack_frames(&room, &msgs);
                let fresh = self.shared.rooms().apply_joined(JoinedReply {
                    room: room.clone(),
                    mode,
                    seq,
                    msgs,
                    resumed,
                });
                if let Some(fresh) = fresh {
                    self.emit_messages(room.clone(), fresh, skipped.unwrap_or_default());
                }
                self.acknowledge(ws, &room, acks).await?;
            }
            ServerFrame::Error {
                code,
                message,
                room,
                ..
            } => {
                self.emit(Event::ServerError {
                    code,
                    message,
                    room,
                });
            }
            ServerFrame::Hello {
                conn_id,
                user,
                server_ts,
                heartbeat_ms,
                max_frame_bytes,
            } => {
                *self.shared.hello() = Hello {
                    conn_id,
                    user,
                    server_ts,
                    heartbeat_ms,
                    max_frame_bytes,
                };
            }
            ServerFrame::Sent { .. }
            | ServerFrame::Pulled { .. }
            | ServerFrame::Pong { .. }
            | ServerFrame::Moderated { .. }
            | ServerFrame::AttrSaved { .. }
            | ServerFrame::Attrs { .. } => {
                // Replies to requests nobody waits for any more (timed out), or our
                // heartbeat's pong.
            }
        }
        Ok(())
    }

    /// Sends the `ack` frames of a `joined`, `batch` or `pulled` frame of `room` just
    /// applied, if the client is in the room: a frame for a room left meanwhile (or a
    /// join refused for the room limit) is not acknowledged, and the server stops
    /// carrying its messages to a connection that is not a member anyway.
    async fn acknowledge(
        &mut self,
        ws: &mut WsStream,
        room: &str,
        acks: Vec<ClientFrame>,
    ) -> Result<(), Ending> {
        if acks.is_empty() {
            return Ok(());
        }
        let in_room = self.shared.rooms().contains(room);
        if !in_room {
            return Ok(());
        }
        for ack in &acks {
            self.write_frame(ws, ack).await?;
        }
        Ok(())
    }

    fn emit_messages(&mut self, room: String, msgs: Vec<Message>, skipped: Skipped) {
        if !msgs.is_empty() || !skipped.is_empty() {
            self.emit(Event::Messages {
                room,
                msgs,
                skipped,
            });
        }
    }

    /// Backs off and reconnects until it works, the policy gives up, the token is
    /// refused, or the app closes. Requests made meanwhile fail with `Closed`.
    async fn reconnect(&mut self) -> Reconnect {
        loop {
            let attempt = self.attempt;
            if !self.policy().allows_attempt(attempt) {
                return Reconnect::GaveUp(format!(
                    "gave up after {attempt} reconnect attempts without a stable connection"
                ));
            }
            let delay = self.config.reconnect.delay(attempt, &mut self.rng);
            self.attempt += 1;
            if let Idle::Closing = self.idle_until(Instant::now() + delay).await {
                return Reconnect::Closing;
            }
            let token = self.shared.token().clone();
            let url = match websocket_url(&self.config.url, &token) {
                Ok(url) => url,
                // The base URL was checked at connect; only the token changed since.
                Err(problem) => return Reconnect::GaveUp(problem),
            };
            let dial = transport::open(
                url,
                self.config.codec,
                self.config.read_buffer_size,
                self.config.request_timeout,
            );
            tokio::pin!(dial);
            let result = loop {
                tokio::select! {
                    result = &mut dial => break result,
                    idle = self.idle_once() => {
                        if let Idle::Closing = idle {
                            return Reconnect::Closing;
                        }
                    }
                }
            };
            match result {
                Ok((ws, hello)) => return Reconnect::Connected(Box::new(ws), hello),
                Err(ClientError::Unauthorized { code, message }) => {
                    return Reconnect::GaveUp(format!(
                        "the server refused the token ({code}): {message}"
                    ));
                }
                Err(error) => tracing::debug!(attempt, %error, "reconnect attempt failed"),
            }
        }
    }

    async fn idle_until(&mut self, deadline: Instant) -> Idle {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return Idle::Continue,
                idle = self.idle_once() => {
                    if let Idle::Closing = idle {
                        return Idle::Closing;
                    }
                }
            }
        }
    }

    /// One step of waiting while disconnected: answers a command, hands over an event,
    /// or notices a close.
    async fn idle_once(&mut self) -> Idle {
        tokio::select! {
            () = self.shared.wake.notified() => {
                if self.shared.close_requested.load(Ordering::SeqCst) {
                    return Idle::Closing;
                }
                // Nothing to drop while disconnected.
                self.shared.drop_requested.store(false, Ordering::SeqCst);
                Idle::Continue
            }
            permit = self.events.clone().reserve_owned(), if !self.outbox.is_empty() => {
                self.deliver(permit);
                Idle::Continue
            }
            command = self.commands.recv() => {
                let Some(command) = command else {
                    return Idle::Closing;
                };
                if let Command::Request { request: Request::Leave { room }, reply } = command {
                    // The server holds nothing for this client now: leaving is local.
                    self.shared.rooms().remove(&room);
                    let _ = reply.send(Ok(Reply::Left));
                } else {
                    refuse(command, ClientError::Closed);
                }
                Idle::Continue
            }
        }
    }
}

fn refuse(command: Command, error: ClientError) {
    match command {
        Command::Request { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::Raw { reply, .. } => {
            let _ = reply.send(Err(error));
        }
    }
}

/// Sends close 1000 and waits briefly for the server's answer.
async fn close_gracefully(ws: &mut WsStream) {
    let frame = CloseFrame {
        code: WsCloseCode::Normal,
        reason: Utf8Bytes::from_static(""),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
