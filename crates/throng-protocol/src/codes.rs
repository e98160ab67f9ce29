//! Stable numeric codes: error codes carried in `error` frames, and WebSocket close codes.
//!
//! Error codes are grouped by range: 1xx server-side trouble (retry later), 2xx a bad
//! request from the client, 3xx refused by room policy (moderation, limits). A code's
//! meaning never changes once released; new codes get new numbers.
//!
//! Close codes use the application range: 4000-4499 mean "reconnect" (with backoff),
//! 4500-4999 mean "do not reconnect without fixing something first".

use serde::{Deserialize, Serialize};
use std::fmt;

/// A code in an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

macro_rules! codes {
    ($ty:ident { $($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)* }) => {
        impl $ty {
            $($(#[$doc])* pub const $name: $ty = $ty($value);)*

            /// Every code this version knows, for documentation and tests.
            pub const KNOWN: &'static [$ty] = &[$($ty::$name),*];

            /// The code's stable snake_case name, or `"unknown"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown",
                }
            }
        }
    };
}

codes!(ErrorCode {
    /// Something failed inside the server; the request may be retried.
    INTERNAL = 100, "internal";
    /// A backend (store, bus) is unavailable; retry with backoff.
    UNAVAILABLE = 101, "unavailable";
    /// The frame could not be decoded or is missing a field. The connection stays open.
    BAD_FRAME = 200, "bad_frame";
    /// The room does not exist (and the server does not create rooms on join).
    UNKNOWN_ROOM = 201, "unknown_room";
    /// The request needs the connection to have joined the room first.
    NOT_JOINED = 202, "not_joined";
    /// The message body is larger than the server's `max_message_bytes`.
    MESSAGE_TOO_LARGE = 203, "message_too_large";
    /// The sender exceeded its own message rate; wait and retry.
    RATE_LIMITED = 204, "rate_limited";
    /// The room exceeded its message rate; the message was not accepted.
    ROOM_RATE_LIMITED = 205, "room_rate_limited";
    /// The action is not allowed for this user (for example `system` priority).
    FORBIDDEN = 206, "forbidden";
    /// The connection already joined as many rooms as the server allows.
    TOO_MANY_ROOMS = 207, "too_many_rooms";
    /// A field has a value outside its allowed range (room id, kind, limit).
    INVALID_VALUE = 208, "invalid_value";
    /// The room is full (`max_members` reached).
    ROOM_FULL = 300, "room_full";
    /// The user is muted in this room or in all rooms; the message says until when.
    MUTED = 301, "muted";
    /// The user is banned from this room or from all rooms; the message says until when.
    BANNED = 302, "banned";
    /// The user is on the room's blacklist and may not join.
    BLACKLISTED = 303, "blacklisted";
    /// The whole room is muted (only whitelisted users may send).
    ROOM_MUTED = 304, "room_muted";
    /// The message contains words the server's content filter refuses.
    FILTERED = 305, "filtered";
    /// A room attribute write broke a rule (key, value size, key count, unknown key); the
    /// message names the rule.
    ATTR_REFUSED = 306, "attr_refused";
    /// A compare-and-set on a room attribute found another version: someone changed it
    /// first. Pull, then decide again.
    ATTR_CONFLICT = 307, "attr_conflict";
    /// The room holds the most reliable messages awaiting acknowledgement; try again
    /// later.
    BACKLOG_FULL = 308, "backlog_full";
});

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// A WebSocket close code the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CloseCode(pub u16);

codes!(CloseCode {
    /// The client closed normally.
    NORMAL = 1000, "normal";
    /// The server is shutting down or draining: reconnect (to another node if any).
    DRAINING = 4000, "draining";
    /// Nothing arrived from the client within the heartbeat timeout.
    HEARTBEAT_TIMEOUT = 4001, "heartbeat_timeout";
    /// The client could not keep up (notify-pull mode: too many notifies unpulled, or
    /// its outbound queue stayed full). Reconnect and resume.
    SLOW_CONSUMER = 4002, "slow_consumer";
    /// An internal server error ended the connection.
    SERVER_ERROR = 4003, "server_error";
    /// The token expired while connected: reconnect with a fresh token.
    TOKEN_EXPIRED = 4004, "token_expired";
    /// The client sent a frame larger than `max_frame_bytes`. Reconnect, but do not send
    /// that frame again.
    FRAME_TOO_LARGE = 4005, "frame_too_large";
    /// The client sent a frame of the wrong WebSocket type for the negotiated codec.
    BAD_PROTOCOL = 4500, "bad_protocol";
    /// The token was refused.
    UNAUTHORIZED = 4501, "unauthorized";
});

impl CloseCode {
    /// Whether a client that got this close code should reconnect (with backoff).
    /// Codes this version does not know follow their range.
    pub fn should_reconnect(self) -> bool {
        match self.0 {
            1000 => false,
            1001..=1015 => true,
            4000..=4499 => true,
            4500..=4999 => false,
            _ => true,
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_ranges_say_whether_to_reconnect() {
        let cases = [
            (CloseCode::NORMAL, false),
            (CloseCode(1006), true),
            (CloseCode::DRAINING, true),
            (CloseCode::SLOW_CONSUMER, true),
            (CloseCode::FRAME_TOO_LARGE, true),
            (CloseCode::BAD_PROTOCOL, false),
            (CloseCode::UNAUTHORIZED, false),
            (CloseCode(4499), true),
            (CloseCode(4999), false),
        ];
        for (code, expect) in cases {
            assert_eq!(code.should_reconnect(), expect, "{code}");
        }
    }

    #[test]
    fn codes_have_unique_values_and_names() {
        let mut values: Vec<u16> = ErrorCode::KNOWN.iter().map(|c| c.0).collect();
        values.dedup();
        assert_eq!(values.len(), ErrorCode::KNOWN.len());
        assert!(ErrorCode::KNOWN.iter().all(|c| c.name() != "unknown"));
        assert_eq!(ErrorCode(9999).name(), "unknown");
    }
}
