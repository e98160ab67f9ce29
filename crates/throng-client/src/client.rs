//! The [`Client`] handle the app calls. Each call becomes a command for the connection
//! task, which owns the socket.

use crate::config::ClientConfig;
use crate::connection::{Command, ConnectionTask, Reply, Request, Shared};
use crate::endpoint::websocket_url;
use crate::error::ClientError;
use crate::event::{Events, Hello, Joined, Pulled, Sent};
use crate::transport;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use throng_protocol::attrs::Since;
use throng_protocol::{DeliveryMode, ModerateAction, Priority};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Capacity of the queue of calls waiting for the connection task. Policy at the bound:
/// callers wait (each within its request timeout). Calls also wait here while the task
/// has [`crate::MAX_APP_REQUESTS`] requests in flight.
const COMMAND_QUEUE: usize = 256;

/// A connected client. Cheap to clone: every clone drives the same connection. The
/// connection closes when [`Client::close`] is called or the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    finished: watch::Receiver<bool>,
    request_timeout: Duration,
}

impl Client {
    /// Connects, waits for the server's `hello`, and starts the connection task (so it
    /// must run inside a tokio runtime). The first connection is not retried: a refused
    /// or unreachable server is reported at once; reconnecting applies to connections
    /// lost later.
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), ClientError> {
        let url = websocket_url(&config.url, &config.token).map_err(ClientError::Connect)?;
        let (ws, hello) = transport::open(
            url,
            config.codec,
            config.read_buffer_size,
            config.request_timeout,
        )
        .await?;
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(config.event_buffer.max(1));
        let (finished_tx, finished_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(hello.clone(), config.token.clone()));
        let request_timeout = config.request_timeout;
        let task = ConnectionTask::new(
            config,
            Arc::clone(&shared),
            commands_rx,
            events_tx,
            finished_tx,
        );
        tokio::spawn(task.run(ws, hello));
        let client = Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                shared,
                finished: finished_rx,
                request_timeout,
            }),
        };
        Ok((client, Events(events_rx)))
    }

    async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let exchange = async {
            self.inner
                .commands
                .send(Command::Request {
                    request,
                    reply: reply_tx,
                })
                .await
                .map_err(|_| ClientError::Closed)?;
            reply_rx.await.map_err(|_| ClientError::Closed)?
        };
        tokio::time::timeout(self.inner.request_timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Joins a room in `mode`. Returns the room's latest messages, or, for a room this
    /// client already joined, a resume: the messages after [`Client::resume_since`]
    /// (this is also how to switch a room between push and notify mode).
    pub async fn join(&self, room: &str, mode: DeliveryMode) -> Result<Joined, ClientError> {
        match self
            .request(Request::Join {
                room: room.to_owned(),
                mode,
            })
            .await?
        {
            Reply::Joined(joined) => Ok(joined),
            other => Err(unexpected("join", &other)),
        }
    }

    /// Leaves a room. The SDK forgets the room at once (it is not resumed after a
    /// reconnect even if the reply is lost). While disconnected this succeeds locally.
    pub async fn leave(&self, room: &str) -> Result<(), ClientError> {
        match self
            .request(Request::Leave {
                room: room.to_owned(),
            })
            .await?
        {
            Reply::Left => Ok(()),
            other => Err(unexpected("leave", &other)),
        }
    }

    /// Sends a message in the lane the room's type policy gives its `kind` (`high` for
    /// kinds it does not name). [`Sent::dropped`] says whether a `drop_over_rate` kind was
    /// dropped because the room was over its rate.
    pub async fn send(
        &self,
        room: &str,
        kind: &str,
        body: serde_json::Value,
    ) -> Result<Sent, ClientError> {
        self.send_message(room, kind, body, None, false, None).await
    }

    /// Sends a message at `priority` (`system` is refused for ordinary users).
    pub async fn send_with_priority(
        &self,
        room: &str,
        kind: &str,
        body: serde_json::Value,
        priority: Priority,
    ) -> Result<Sent, ClientError> {
        self.send_message(room, kind, body, Some(priority), false, None)
            .await
    }

    /// Sends a reliable message (a gift, a red packet, a product card): the server puts it
    /// in the `system` lane, stores it before replying, and carries it to every member
    /// until each acknowledges it (this SDK acknowledges automatically and shows each
    /// reliable message once). Needs the `moderator` or `system` role, or the room's
    /// setting `reliable.senders` = `"members"`; otherwise the server refuses with
    /// [`ErrorCode::FORBIDDEN`](throng_protocol::ErrorCode::FORBIDDEN).
    ///
    /// `msg_id` (1-64 characters of `A-Z a-z 0-9 _ . : -`) makes the send idempotent:
    /// sending again with the same `msg_id` in the same room while the first is retained
    /// returns the first one's seq and publishes nothing, so a send that failed with
    /// [`ClientError::Timeout`] or [`ClientError::Closed`] can be repeated safely. Without
    /// it the server picks the id, and a repeated send is a second message.
    ///
    /// A room holding too many messages not yet acknowledged by its members refuses with
    /// [`ErrorCode::BACKLOG_FULL`](throng_protocol::ErrorCode::BACKLOG_FULL): try again
    /// later.
    pub async fn send_reliable(
        &self,
        room: &str,
        kind: &str,
        body: serde_json::Value,
        msg_id: Option<&str>,
    ) -> Result<Sent, ClientError> {
        self.send_message(room, kind, body, None, true, msg_id.map(str::to_owned))
            .await
    }

    async fn send_message(
        &self,
        room: &str,
        kind: &str,
        body: serde_json::Value,
        priority: Option<Priority>,
        reliable: bool,
        msg_id: Option<String>,
    ) -> Result<Sent, ClientError> {
        let request = Request::Send {
            room: room.to_owned(),
            kind: kind.to_owned(),
            body,
            priority,
            reliable,
            msg_id,
        };
        match self.request(request).await? {
            Reply::Sent(sent) => Ok(sent),
            other => Err(unexpected("send", &other)),
        }
    }

    /// Likes `room` `taps` times. Taps are summed per room and sent as
    /// `{"kind":"like","body":{"count":k}}`: at once when the room sent no like message in
    /// the last [`crate::likes::LIKE_INTERVAL`], otherwise with the next one, at most one
    /// message per interval and room, with at most
    /// [`crate::likes::MAX_LIKES_PER_MESSAGE`] taps each (the room's `aggregate` policy
    /// adds them to its counter, which members see in the server's `like` updates and in
    /// [`crate::Event::Stats`]). While disconnected, taps wait for the resumed connection.
    /// Taps that do not count are added to [`Client::likes_lost`].
    ///
    /// Fails at once with [`ClientError::NotJoined`] for a room this client is not in,
    /// and with [`ClientError::Closed`] once the client is closed.
    pub fn like(&self, room: &str, taps: u32) -> Result<(), ClientError> {
        if !self.inner.shared.rooms().contains(room) {
            return Err(ClientError::NotJoined {
                room: room.to_owned(),
            });
        }
        {
            // The connection task drains likes under this lock once it has finished.
            let mut likes = self.inner.shared.likes();
            if *self.inner.finished.borrow() {
                return Err(ClientError::Closed);
            }
            likes.add(room, taps);
        }
        self.inner.shared.wake.notify_one();
        Ok(())
    }

    /// How many taps given to [`Client::like`], in all rooms, did not reach their room's
    /// counter: the like message was dropped by the room's policy or refused by the
    /// server, the connection went down before its reply (it may or may not have
    /// counted), the room was left before they were sent, or the client closed with taps
    /// not sent yet.
    pub fn likes_lost(&self) -> u64 {
        self.inner.shared.likes_lost.load(Ordering::SeqCst)
    }

    /// Fetches retained messages with seq > `since` (at most `limit`, server default 200,
    /// max 500). The reply holds everything the server returned, seen before or not.
    pub async fn pull(
        &self,
        room: &str,
        since: u64,
        limit: Option<u32>,
    ) -> Result<Pulled, ClientError> {
        match self
            .request(Request::Pull {
                room: room.to_owned(),
                since,
                limit,
            })
            .await?
        {
            Reply::Pulled(pulled) => Ok(pulled),
            other => Err(unexpected("pull", &other)),
        }
    }

    /// Sends `ping` and returns the round trip time.
    /// A moderator's action on `room` (the token needs the `moderator` role). `user` is
    /// the target (none for `MuteRoom`/`UnmuteRoom`); `duration` bounds mutes, bans and
    /// list entries (none: until lifted).
    pub async fn moderate(
        &self,
        room: &str,
        action: ModerateAction,
        user: Option<&str>,
        duration: Option<Duration>,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let request = Request::Moderate {
            room: room.to_owned(),
            action,
            user: user.map(str::to_owned),
            duration_s: duration.map(|d| d.as_secs()),
            reason: reason.map(str::to_owned),
        };
        match self.request(request).await? {
            Reply::Moderated => Ok(()),
            other => Err(unexpected("moderate", &other)),
        }
    }

    /// Sets a room attribute (needs the right to write the room's attributes); returns
    /// the room's attribute version after it. `expect_version` makes it a
    /// compare-and-set (`Some(0)`: only if absent).
    pub async fn attr_set(
        &self,
        room: &str,
        key: &str,
        value: serde_json::Value,
        delete_on_leave: bool,
        expect_version: Option<u64>,
    ) -> Result<u64, ClientError> {
        let request = Request::AttrSet {
            room: room.to_owned(),
            key: key.to_owned(),
            value,
            delete_on_leave,
            expect_version,
        };
        match self.request(request).await? {
            Reply::AttrSaved(version) => Ok(version),
            other => Err(unexpected("attr_set", &other)),
        }
    }

    /// Deletes a room attribute; returns the room's attribute version after it.
    pub async fn attr_delete(
        &self,
        room: &str,
        key: &str,
        expect_version: Option<u64>,
    ) -> Result<u64, ClientError> {
        let request = Request::AttrDelete {
            room: room.to_owned(),
            key: key.to_owned(),
            expect_version,
        };
        match self.request(request).await? {
            Reply::AttrSaved(version) => Ok(version),
            other => Err(unexpected("attr_delete", &other)),
        }
    }

    /// The room's attribute changes after `since` (or its full set when they are no
    /// longer all kept): apply them with [`throng_protocol::attrs::apply`].
    pub async fn attr_pull(&self, room: &str, since: u64) -> Result<Since, ClientError> {
        let request = Request::AttrPull {
            room: room.to_owned(),
            since,
        };
        match self.request(request).await? {
            Reply::Attrs(since) => Ok(since),
            other => Err(unexpected("attr_pull", &other)),
        }
    }

    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let started = Instant::now();
        match self.request(Request::Ping).await? {
            Reply::Pong => Ok(started.elapsed()),
            other => Err(unexpected("ping", &other)),
        }
    }

    /// The highest seq this client received in `room` (counting the room's seq at a
    /// first join), or `None` if it is not in the room. See the `rooms` module for how
    /// this differs from [`Client::resume_since`].
    pub fn last_seq(&self, room: &str) -> Option<u64> {
        self.inner.shared.rooms().last_seq(room)
    }

    /// The `since` the SDK uses to resume `room` after a reconnect and for automatic
    /// pulls: every message at or below it arrived or can no longer arrive. At most
    /// [`Client::last_seq`] apart from after a resume that lost messages.
    pub fn resume_since(&self, room: &str) -> Option<u64> {
        self.inner.shared.rooms().resume_since(room)
    }

    /// The rooms this client is in, sorted.
    pub fn joined_rooms(&self) -> Vec<String> {
        self.inner
            .shared
            .rooms()
            .resume_plan()
            .into_iter()
            .map(|(room, _, _)| room)
            .collect()
    }

    /// The `hello` of the current (or last) connection.
    pub fn hello(&self) -> Hello {
        self.inner.shared.hello().clone()
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.connected.load(Ordering::SeqCst)
    }

    /// Replaces the token used by the next reconnect (after close 4004 `token_expired`,
    /// give the client a fresh token here).
    pub fn set_token(&self, token: impl Into<String>) {
        *self.inner.shared.token() = token.into();
    }

    /// Writes `bytes` as one text (`binary == false`) or binary frame, as is. For tests of
    /// malformed or oversized frames: the server's answer arrives as
    /// [`crate::Event::ServerError`] or as a close ([`crate::Event::Disconnected`]).
    pub async fn send_raw(&self, bytes: Vec<u8>, binary: bool) -> Result<(), ClientError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let exchange = async {
            self.inner
                .commands
                .send(Command::Raw {
                    bytes,
                    binary,
                    reply: reply_tx,
                })
                .await
                .map_err(|_| ClientError::Closed)?;
            reply_rx.await.map_err(|_| ClientError::Closed)?
        };
        tokio::time::timeout(self.inner.request_timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Cuts the connection without a close frame, like a network loss: the SDK then
    /// emits `Disconnected`, reconnects and resumes. Does nothing while disconnected.
    pub fn drop_connection(&self) {
        self.inner
            .shared
            .drop_requested
            .store(true, Ordering::SeqCst);
        self.inner.shared.wake.notify_one();
    }

    /// Closes with code 1000 and stops reconnecting. Requests in flight fail with
    /// [`ClientError::Closed`]; [`Events`] ends with [`crate::Event::Closed`]. Returns
    /// once the socket is closed (the server had a moment to answer the close).
    pub async fn close(&self) {
        self.inner
            .shared
            .close_requested
            .store(true, Ordering::SeqCst);
        self.inner.shared.wake.notify_one();
        let mut finished = self.inner.finished.clone();
        // An error means the task is gone, which is just as closed.
        let _ = finished.wait_for(|done| *done).await;
    }
}

fn unexpected(request: &str, reply: &Reply) -> ClientError {
    ClientError::Protocol(format!("unexpected reply to {request}: {reply:?}"))
}
