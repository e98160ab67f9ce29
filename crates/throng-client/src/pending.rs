//! Requests waiting for their reply, matched by the `id` the client put in the request.
//!
//! Ids come from a `u32` counter that wraps and skips ids still waiting, so an id is
//! never shared by two requests in flight. The map is bounded: app requests stop being
//! taken when [`MAX_APP_REQUESTS`] wait (callers then wait in the bounded command queue,
//! each under its own timeout). Requests the SDK makes itself (resuming joins, automatic
//! pulls, like messages) number at most three per joined room, so they are bounded by the
//! room limit and are always taken.

use std::collections::HashMap;
use throng_protocol::ServerFrame;

/// The most app requests waiting for replies at once on one client.
pub const MAX_APP_REQUESTS: usize = 1024;

/// What a request was, to check that its reply has the matching type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Join,
    Leave,
    Send,
    Pull,
    Ping,
    Moderate,
    AttrWrite,
    AttrPull,
}

impl RequestKind {
    /// Whether `frame` is a proper reply to this kind of request. An `error` frame
    /// answers any request.
    pub fn accepts(self, frame: &ServerFrame) -> bool {
        matches!(
            (self, frame),
            (_, ServerFrame::Error { .. })
                | (RequestKind::Join, ServerFrame::Joined { .. })
                | (RequestKind::Leave, ServerFrame::Left { .. })
                | (RequestKind::Send, ServerFrame::Sent { .. })
                | (RequestKind::Pull, ServerFrame::Pulled { .. })
                | (RequestKind::Ping, ServerFrame::Pong { .. })
                | (RequestKind::Moderate, ServerFrame::Moderated { .. })
                | (RequestKind::AttrWrite, ServerFrame::AttrSaved { .. })
                | (RequestKind::AttrPull, ServerFrame::Attrs { .. })
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Join => "join",
            RequestKind::Leave => "leave",
            RequestKind::Send => "send",
            RequestKind::Pull => "pull",
            RequestKind::Ping => "ping",
            RequestKind::Moderate => "moderate",
            RequestKind::AttrWrite => "attr_set",
            RequestKind::AttrPull => "attr_pull",
        }
    }
}

/// The `id` a server frame echoes, if it is a reply. `batch`, `notify` and `hello` are
/// never replies.
pub fn reply_id(frame: &ServerFrame) -> Option<u32> {
    match frame {
        ServerFrame::Joined { id, .. }
        | ServerFrame::Left { id, .. }
        | ServerFrame::Sent { id, .. }
        | ServerFrame::Pulled { id, .. }
        | ServerFrame::Pong { id, .. }
        | ServerFrame::Moderated { id, .. }
        | ServerFrame::AttrSaved { id, .. }
        | ServerFrame::Attrs { id, .. }
        | ServerFrame::Error { id, .. } => *id,
        ServerFrame::Hello { .. }
        | ServerFrame::Batch { .. }
        | ServerFrame::Notify { .. }
        | ServerFrame::Moderation { .. }
        | ServerFrame::AttrNotify { .. }
        | ServerFrame::Stats(_) => None,
    }
}

/// One waiting request: its kind, whether the app made it, and who gets the reply.
#[derive(Debug)]
pub struct PendingRequest<W> {
    pub kind: RequestKind,
    pub from_app: bool,
    pub waiter: W,
}

/// Waiting requests by id.
#[derive(Debug)]
pub struct PendingRequests<W> {
    waiting: HashMap<u32, PendingRequest<W>>,
    n_app: usize,
    app_limit: usize,
    next_id: u32,
}

impl<W> Default for PendingRequests<W> {
    fn default() -> Self {
        PendingRequests::new(MAX_APP_REQUESTS)
    }
}

impl<W> PendingRequests<W> {
    pub fn new(app_limit: usize) -> PendingRequests<W> {
        PendingRequests {
            waiting: HashMap::new(),
            n_app: 0,
            app_limit,
            next_id: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether one more app request may be taken.
    pub fn has_room_for_app_request(&self) -> bool {
        self.n_app < self.app_limit
    }

    /// Registers a request and returns the id to send it with. App requests beyond the
    /// limit are refused (the caller checks [`Self::has_room_for_app_request`] first).
    pub fn insert(&mut self, kind: RequestKind, from_app: bool, waiter: W) -> Result<u32, W> {
        if from_app && !self.has_room_for_app_request() {
            return Err(waiter);
        }
        let id = self.fresh_id();
        self.waiting.insert(
            id,
            PendingRequest {
                kind,
                from_app,
                waiter,
            },
        );
        if from_app {
            self.n_app += 1;
        }
        Ok(id)
    }

    /// Removes and returns the request with this id.
    pub fn take(&mut self, id: u32) -> Option<PendingRequest<W>> {
        let request = self.waiting.remove(&id)?;
        if request.from_app {
            self.n_app -= 1;
        }
        Some(request)
    }

    /// Removes the requests for which `abandoned` is true (e.g. the caller timed out and
    /// dropped its end) and returns how many went.
    pub fn remove_abandoned(&mut self, mut abandoned: impl FnMut(&W) -> bool) -> usize {
        let before = self.waiting.len();
        let mut n_app_removed = 0;
        self.waiting.retain(|_, request| {
            let remove = abandoned(&request.waiter);
            if remove && request.from_app {
                n_app_removed += 1;
            }
            !remove
        });
        self.n_app -= n_app_removed;
        before - self.waiting.len()
    }

    /// Removes every request (the connection is gone), in id order.
    pub fn drain(&mut self) -> Vec<PendingRequest<W>> {
        let mut all: Vec<(u32, PendingRequest<W>)> = self.waiting.drain().collect();
        all.sort_by_key(|(id, _)| *id);
        self.n_app = 0;
        all.into_iter().map(|(_, request)| request).collect()
    }

    fn fresh_id(&mut self) -> u32 {
        // The map holds far fewer than 2^32 entries, so a free id is always near.
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if !self.waiting.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_protocol::{DeliveryMode, ErrorCode};

    #[test]
    fn replies_find_their_request_by_id() {
        let mut pending = PendingRequests::new(10);
        let join = pending.insert(RequestKind::Join, true, "join").unwrap();
        let send = pending.insert(RequestKind::Send, true, "send").unwrap();
        let pull = pending
            .insert(RequestKind::Pull, false, "auto pull")
            .unwrap();
        assert_eq!(pending.len(), 3);
        // Replies may come in any order.
        for (id, expect) in [(send, "send"), (pull, "auto pull"), (join, "join")] {
            let request = pending.take(id).expect("waiting");
            assert_eq!(request.waiter, expect);
        }
        // A second reply with the same id, or an id never used, matches nothing.
        assert!(pending.take(send).is_none());
        assert!(pending.take(9_999).is_none());
        assert!(pending.is_empty());
    }

    #[test]
    fn ids_wrap_and_skip_ids_still_waiting() {
        let mut pending = PendingRequests::new(10);
        pending.next_id = u32::MAX - 1;
        let a = pending.insert(RequestKind::Ping, true, ()).unwrap();
        let b = pending.insert(RequestKind::Ping, true, ()).unwrap();
        let c = pending.insert(RequestKind::Ping, true, ()).unwrap();
        assert_eq!([a, b, c], [u32::MAX - 1, u32::MAX, 0]);
        // Wrap all the way round: the ids still waiting are skipped.
        pending.take(b);
        pending.next_id = u32::MAX - 1;
        let d = pending.insert(RequestKind::Ping, true, ()).unwrap();
        assert_eq!(d, u32::MAX);
        let e = pending.insert(RequestKind::Ping, true, ()).unwrap();
        assert_eq!(e, 1);
    }

    #[test]
    fn app_requests_are_bounded_and_sdk_requests_are_not() {
        let mut pending = PendingRequests::new(2);
        let first = pending.insert(RequestKind::Send, true, 1).unwrap();
        pending.insert(RequestKind::Send, true, 2).unwrap();
        assert!(!pending.has_room_for_app_request());
        assert_eq!(pending.insert(RequestKind::Send, true, 3), Err(3));
        assert!(pending.insert(RequestKind::Join, false, 4).is_ok());
        // A reply frees a slot; so does a caller giving up.
        pending.take(first);
        assert!(pending.has_room_for_app_request());
        pending.insert(RequestKind::Send, true, 5).unwrap();
        assert_eq!(pending.remove_abandoned(|w| *w == 2 || *w == 4), 2);
        assert!(pending.has_room_for_app_request());
        let left: Vec<i32> = pending.drain().into_iter().map(|r| r.waiter).collect();
        assert_eq!(left, [5]);
        assert!(pending.has_room_for_app_request());
    }

    #[test]
    fn reply_types_must_match_the_request() {
        let joined = ServerFrame::Joined {
            id: Some(1),
            room: "r".into(),
            seq: 0,
            online: 1,
            mode: DeliveryMode::Push,
            msgs: vec![],
            skipped: None,
            attrs: None,
        };
        let sent = ServerFrame::Sent {
            id: Some(1),
            room: "r".into(),
            seq: 1,
            ts: 1,
            dropped: false,
        };
        let pong = ServerFrame::Pong { id: Some(1), ts: 1 };
        let error = ServerFrame::Error {
            id: Some(1),
            code: ErrorCode::NOT_JOINED,
            message: "join first".into(),
            room: Some("r".into()),
        };
        let cases = [
            (RequestKind::Join, &joined, true),
            (RequestKind::Send, &joined, false),
            (RequestKind::Send, &sent, true),
            (RequestKind::Ping, &pong, true),
            (RequestKind::Pull, &pong, false),
            (RequestKind::Leave, &error, true),
            (RequestKind::Ping, &error, true),
        ];
        for (kind, frame, expect) in cases {
            assert_eq!(kind.accepts(frame), expect, "{kind:?} {frame:?}");
        }
    }

    #[test]
    fn only_replies_carry_ids() {
        let cases = [
            (ServerFrame::Pong { id: Some(4), ts: 0 }, Some(4)),
            (ServerFrame::Pong { id: None, ts: 0 }, None),
            (
                ServerFrame::Notify {
                    room: "r".into(),
                    seq: 3,
                },
                None,
            ),
            (
                ServerFrame::Batch {
                    room: "r".into(),
                    msgs: vec![],
                    skipped: None,
                    upto: None,
                },
                None,
            ),
        ];
        for (frame, expect) in cases {
            assert_eq!(reply_id(&frame), expect, "{frame:?}");
        }
    }
}
