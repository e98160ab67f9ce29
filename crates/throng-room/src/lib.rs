//! Sans-IO live-room logic.
//!
//! Plain values in, values out: no tokio, no sockets, no clock. Time is an argument
//! (milliseconds on a monotonic clock the caller owns), so every behaviour is tested with
//! exact timestamps.

pub mod settings;

pub use settings::{BatchSettings, NotifySettings, RoomSettings, SettingsError};
