//! Per-room settings: limits, ring sizes, batching and notify-pull timing.
//!
//! Defaults come from the server config; the HTTP API can change them per room. Every
//! field has a validated range so that no setting can make a buffer unbounded.

use serde::{Deserialize, Serialize};

/// Settings of one live room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSettings {
    /// Upstream messages per second the room accepts (token bucket, burst of one second).
    /// System-priority messages are exempt.
    pub rate_per_sec: u32,
    /// Ring capacity (messages) for the system lane.
    pub ring_system: u32,
    /// Ring capacity (messages) for the high lane.
    pub ring_high: u32,
    /// Ring capacity (messages) for the low lane.
    pub ring_low: u32,
    /// How many of the latest messages a first join receives.
    pub recent_on_join: u32,
    /// Members beyond which joins are refused with `room_full`; 0 means no limit.
    pub max_members: u32,
    pub batch: BatchSettings,
    pub notify: NotifySettings,
    /// Limits of the room's attributes (keys, value sizes, change log).
    pub attributes: crate::attributes::AttributeLimits,
    /// Who may set and delete the room's attributes from a connection (the server API
    /// always may).
    pub attribute_writers: AttributeWriters,
}

/// Who may write a room's attributes from a client connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttributeWriters {
    /// Users with the `moderator` or `system` role (the default).
    #[default]
    Moderators,
    /// Every member of the room.
    Members,
}

/// When a room flushes its rings to members (seed 000 §5.2.1: small rooms deliver at
/// once, big rooms buffer and send batches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchSettings {
    /// Rooms with fewer members than this deliver each message as soon as it arrives.
    pub immediate_below_members: u32,
    /// Frames per second the room may write across all its members. A bigger room
    /// therefore flushes less often: interval = members / budget, capped below.
    pub frame_budget_per_sec: u32,
    /// The shortest time between two flushes of a batched room, in milliseconds. Without
    /// it a mid-size room (a few hundred to a few thousand members) would flush so often
    /// that most frames carry one or two messages, and frames, not messages, cost CPU.
    pub min_interval_ms: u32,
    /// The longest a message waits for its room's flush, in milliseconds.
    pub max_interval_ms: u32,
    /// The most messages one batch frame carries; a member further behind gets the rest
    /// in following batches.
    pub max_messages: u32,
    /// The most bytes of encoded messages one batch frame carries (at least one message).
    /// Members that fall behind sit at different positions and each hold their own frame
    /// while their socket is blocked, so this bounds the server's memory under overload
    /// at about members x 2 x max_bytes.
    pub max_bytes: u32,
}

/// Notify-pull mode timing (seed 001 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifySettings {
    /// After a notify, no other notify goes to the same connection for this long unless it
    /// pulls (the in-flight mark).
    pub inflight_ms: u32,
    /// A connection that has not pulled for this long while the room had new messages is
    /// dropped (whitelisted users never are).
    pub drop_after_ms: u32,
    /// A connection that has left this many notifies unpulled is dropped.
    pub drop_after_notifies: u32,
}

impl Default for RoomSettings {
    fn default() -> RoomSettings {
        RoomSettings {
            rate_per_sec: 200,
            ring_system: 256,
            ring_high: 1024,
            ring_low: 1024,
            recent_on_join: 50,
            max_members: 0,
            batch: BatchSettings::default(),
            notify: NotifySettings::default(),
            attributes: crate::attributes::AttributeLimits::default(),
            attribute_writers: AttributeWriters::default(),
        }
    }
}

impl Default for BatchSettings {
    fn default() -> BatchSettings {
        BatchSettings {
            immediate_below_members: 64,
            frame_budget_per_sec: 100_000,
            min_interval_ms: 40,
            max_interval_ms: 200,
            max_messages: 200,
            max_bytes: 16_384,
        }
    }
}

impl Default for NotifySettings {
    fn default() -> NotifySettings {
        NotifySettings {
            inflight_ms: 2_000,
            drop_after_ms: 30_000,
            drop_after_notifies: 30,
        }
    }
}

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {min} and {max}, got {value}")]
pub struct SettingsError {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

fn check(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError {
            field,
            value: value.into(),
            min: min.into(),
            max: max.into(),
        })
    }
}

/// The settings path of an attribute limit, e.g. `attributes.max_keys`.
fn attribute_field(field: &'static str) -> &'static str {
    match field {
        "max_keys" => "attributes.max_keys",
        "max_key_bytes" => "attributes.max_key_bytes",
        "max_value_bytes" => "attributes.max_value_bytes",
        "max_log" => "attributes.max_log",
        other => other,
    }
}

impl RoomSettings {
    /// Checks every field against its range; the error names the first bad field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check("rate_per_sec", self.rate_per_sec, 1, 100_000)?;
        check("ring_system", self.ring_system, 1, 65_536)?;
        check("ring_high", self.ring_high, 1, 65_536)?;
        check("ring_low", self.ring_low, 1, 65_536)?;
        check("recent_on_join", self.recent_on_join, 0, 500)?;
        check("max_members", self.max_members, 0, 10_000_000)?;
        check(
            "batch.immediate_below_members",
            self.batch.immediate_below_members,
            0,
            1_000_000,
        )?;
        check(
            "batch.frame_budget_per_sec",
            self.batch.frame_budget_per_sec,
            1_000,
            10_000_000,
        )?;
        check(
            "batch.max_interval_ms",
            self.batch.max_interval_ms,
            1,
            5_000,
        )?;
        check(
            "batch.min_interval_ms",
            self.batch.min_interval_ms,
            0,
            self.batch.max_interval_ms,
        )?;
        check("batch.max_messages", self.batch.max_messages, 1, 1_000)?;
        check("batch.max_bytes", self.batch.max_bytes, 1_024, 1_048_576)?;
        check("notify.inflight_ms", self.notify.inflight_ms, 1, 60_000)?;
        check(
            "notify.drop_after_ms",
            self.notify.drop_after_ms,
            1_000,
            600_000,
        )?;
        check(
            "notify.drop_after_notifies",
            self.notify.drop_after_notifies,
            1,
            10_000,
        )?;
        self.attributes.validate().map_err(|e| SettingsError {
            field: attribute_field(e.field),
            ..e
        })?;
        Ok(())
    }

    /// Ring capacity for a lane, indexed by [`throng_protocol::Priority::index`].
    pub fn ring_sizes(&self) -> [usize; 3] {
        [
            self.ring_system as usize,
            self.ring_high as usize,
            self.ring_low as usize,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RoomSettings::default().validate().unwrap();
    }

    #[test]
    fn out_of_range_fields_are_named() {
        type Edit = fn(&mut RoomSettings);
        let cases: [(Edit, &str); 4] = [
            (|s| s.rate_per_sec = 0, "rate_per_sec"),
            (|s| s.ring_low = 1_000_000, "ring_low"),
            (|s| s.batch.max_messages = 0, "batch.max_messages"),
            (|s| s.notify.drop_after_ms = 10, "notify.drop_after_ms"),
        ];
        for (mutate, field) in cases {
            let mut settings = RoomSettings::default();
            mutate(&mut settings);
            assert_eq!(settings.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_fields_are_refused() {
        let s: RoomSettings =
            serde_json::from_str(r#"{"rate_per_sec": 5, "batch": {"max_messages": 9}}"#).unwrap();
        assert_eq!(s.rate_per_sec, 5);
        assert_eq!(s.batch.max_messages, 9);
        assert_eq!(
            s.batch.max_interval_ms,
            BatchSettings::default().max_interval_ms
        );
        assert!(serde_json::from_str::<RoomSettings>(r#"{"rate": 5}"#).is_err());
    }
}
