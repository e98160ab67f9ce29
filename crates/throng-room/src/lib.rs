//! Sans-IO live-room logic.
//!
//! Plain values in, values out: no tokio, no sockets, no clock. Time is an argument
//! (milliseconds on a monotonic clock the caller owns), so every behaviour is tested with
//! exact timestamps.
//!
//! Layout:
//! - [`room`]: a room on one node: rings, members, cursors, flush decisions, notify-pull.
//! - [`ring`]: one bounded priority lane with absolute positions.
//! - [`moderation`]: mutes, bans, whitelist and blacklist, checked on join and send.
//! - [`rate`]: token buckets for per-user and per-room upstream limits.
//! - [`settings`]: per-room settings with validated ranges.

pub mod attributes;
pub mod moderation;
pub mod rate;
pub mod ring;
pub mod room;
pub mod settings;
pub mod windows;

#[cfg(test)]
mod tests;

pub use attributes::{AttrError, AttributeLimits, RoomAttributes};
pub use rate::{KeyedLimiter, Refusal, TokenBucket};
pub use room::{ConnId, Deliver, FlushReport, Room, RoomCounters, RoomError, Snapshot, MAX_PULL};
pub use settings::{
    AttributeWriters, BatchSettings, NotifySettings, RecordingSettings, ReliableSenders,
    ReliableSettings, RoomSettings, SettingsError, TypePolicy, WhoMay,
};
