//! Per-room settings: limits, ring sizes, batching and notify-pull timing.
//!
//! Defaults come from the server config; the HTTP API can change them per room. Every
//! field has a validated range so that no setting can make a buffer unbounded.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use throng_protocol::Priority;

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
    /// What happens to each message type (`kind`): delivered in a lane, aggregated into a
    /// counter, merged, kept latest per key, or dropped while the room is over its rate.
    /// A config file's table replaces the defaults; the server API merges changes by kind
    /// (`null` removes one). Kinds not in the map are delivered in the high lane (or the
    /// lane the sender asks for).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub types: BTreeMap<String, TypePolicy>,
    /// How long aggregated, merged and keep-latest messages collect before members get
    /// one update, in milliseconds.
    pub types_window_ms: u32,
    /// The server publishes a `join` / `leave` message (from `@server`) as members come
    /// and go; with the default `merge` policy they arrive merged.
    pub presence_notices: bool,
    /// Reliable messages: retention, retries, and who may send them.
    pub reliable: ReliableSettings,
    /// How often members get a `stats` frame, in milliseconds; 0: never pushed.
    pub stats_interval_ms: u32,
    /// Recording of accepted messages for replay.
    pub recording: RecordingSettings,
}

/// The policy of one message type (seed 000 §5.2.3: flow control per sub-type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TypePolicy {
    /// Delivered in this lane (a sender may ask for a lower one). Over the room's rate
    /// the sender is refused with `room_rate_limited`.
    Deliver { priority: Priority },
    /// Each message adds its `body.count` (1-1000, else 1) to a room counter; members get
    /// one `{count, delta}` update per window, in the low lane. Exempt from the room rate.
    Aggregate,
    /// Each message adds its sender to a list; members get one `{users, others}` update
    /// per window, in the low lane. Exempt from the room rate.
    Merge,
    /// Per window only the newest message per value of `body[key]` is delivered.
    Latest {
        key: String,
        #[serde(default = "high")]
        priority: Priority,
    },
    /// Delivered in this lane while the room is under its rate; over it, dropped (the
    /// sender's `sent` says `dropped`).
    DropOverRate {
        #[serde(default = "low")]
        priority: Priority,
    },
}

fn high() -> Priority {
    Priority::High
}

fn low() -> Priority {
    Priority::Low
}

impl TypePolicy {
    /// The lane a message of this type travels in.
    pub fn priority(&self) -> Priority {
        match self {
            TypePolicy::Deliver { priority }
            | TypePolicy::Latest { priority, .. }
            | TypePolicy::DropOverRate { priority } => *priority,
            TypePolicy::Aggregate | TypePolicy::Merge => Priority::Low,
        }
    }

    /// Whether messages of this type are collected and sent once per window.
    pub fn is_windowed(&self) -> bool {
        matches!(
            self,
            TypePolicy::Aggregate | TypePolicy::Merge | TypePolicy::Latest { .. }
        )
    }
}

/// The policy of kinds that are not in the map.
pub const DEFAULT_POLICY: TypePolicy = TypePolicy::Deliver {
    priority: Priority::High,
};

/// The default type map: text, likes, gifts, join and leave notices, system notices.
pub fn default_types() -> BTreeMap<String, TypePolicy> {
    let system = TypePolicy::Deliver {
        priority: Priority::System,
    };
    BTreeMap::from([
        ("text".to_owned(), DEFAULT_POLICY),
        ("like".to_owned(), TypePolicy::Aggregate),
        ("gift".to_owned(), system.clone()),
        ("join".to_owned(), TypePolicy::Merge),
        ("leave".to_owned(), TypePolicy::Merge),
        ("notice".to_owned(), system),
    ])
}

/// Who may send reliable messages from a client connection (the server API always may).
pub type ReliableSenders = WhoMay;

/// Reliable messages (gifts, red packets, product cards): stored before the sender's
/// ack, carried again until each member acknowledges them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReliableSettings {
    /// How long a reliable message is kept for members that have not acknowledged it
    /// (and for resuming clients), in seconds.
    pub ttl_s: u32,
    /// The most reliable messages a room keeps; at the bound new reliable sends are
    /// refused with `backlog_full` (nothing already accepted is dropped before its ttl).
    pub max_pending: u32,
    /// How long the server waits for an acknowledgement before carrying a message again.
    pub retry_ms: u32,
    /// Deliveries per member in all, the first included.
    pub max_tries: u32,
    pub senders: ReliableSenders,
}

impl Default for ReliableSettings {
    fn default() -> ReliableSettings {
        ReliableSettings {
            ttl_s: 60,
            max_pending: 2_000,
            retry_ms: 1_000,
            max_tries: 3,
            senders: ReliableSenders::default(),
        }
    }
}

/// Recording of a room's accepted messages, for replay beside a recorded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingSettings {
    pub enabled: bool,
    /// The message kinds recorded.
    pub kinds: Vec<String>,
    /// How long recorded messages are kept, in seconds.
    pub retention_s: u32,
}

impl Default for RecordingSettings {
    fn default() -> RecordingSettings {
        RecordingSettings {
            enabled: false,
            kinds: vec!["text".to_owned(), "gift".to_owned()],
            retention_s: 7 * 24 * 3600,
        }
    }
}

/// Who may write a room's attributes from a client connection.
pub type AttributeWriters = WhoMay;

/// Which users may do something from a client connection (the server API always may).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WhoMay {
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
            types: default_types(),
            types_window_ms: 250,
            presence_notices: false,
            reliable: ReliableSettings::default(),
            stats_interval_ms: 2_000,
            recording: RecordingSettings::default(),
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

/// The most entries in `types` (and kinds in `recording.kinds`).
pub const MAX_TYPES: usize = 64;

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {min} and {max}, got {value}")]
pub struct SettingsError {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

/// Checks a setting against its allowed range; the error names the field.
pub(crate) fn check(
    field: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), SettingsError> {
    check_u64(field, value.into(), min.into(), max.into())
}

/// [`check`] for a length or a count.
fn check_len(field: &'static str, len: usize, min: usize, max: usize) -> Result<(), SettingsError> {
    check_u64(field, len as u64, min as u64, max as u64)
}

fn check_u64(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError {
            field,
            value,
            min,
            max,
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
        check("types_window_ms", self.types_window_ms, 10, 10_000)?;
        check_len("types", self.types.len(), 0, MAX_TYPES)?;
        for (kind, policy) in &self.types {
            check_len("types (length of a kind)", kind.len(), 1, 64)?;
            if let TypePolicy::Latest { key, .. } = policy {
                check_len("types (length of a latest key)", key.len(), 1, 64)?;
            }
        }
        check("reliable.ttl_s", self.reliable.ttl_s, 1, 86_400)?;
        check(
            "reliable.max_pending",
            self.reliable.max_pending,
            1,
            100_000,
        )?;
        check("reliable.retry_ms", self.reliable.retry_ms, 100, 60_000)?;
        check("reliable.max_tries", self.reliable.max_tries, 1, 10)?;
        if self.stats_interval_ms != 0 {
            check("stats_interval_ms", self.stats_interval_ms, 250, 3_600_000)?;
        }
        check(
            "recording.retention_s",
            self.recording.retention_s,
            60,
            366 * 86_400,
        )?;
        check_len("recording.kinds", self.recording.kinds.len(), 0, MAX_TYPES)?;
        self.attributes.validate().map_err(|e| SettingsError {
            field: attribute_field(e.field),
            ..e
        })?;
        Ok(())
    }

    /// The policy of a message kind.
    pub fn policy(&self, kind: &str) -> &TypePolicy {
        self.types.get(kind).unwrap_or(&DEFAULT_POLICY)
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
        let cases: [(Edit, &str); 8] = [
            (|s| s.rate_per_sec = 0, "rate_per_sec"),
            (|s| s.ring_low = 1_000_000, "ring_low"),
            (|s| s.batch.max_messages = 0, "batch.max_messages"),
            (|s| s.notify.drop_after_ms = 10, "notify.drop_after_ms"),
            (
                |s| {
                    s.types.insert(String::new(), TypePolicy::Aggregate);
                },
                "types (length of a kind)",
            ),
            (
                |s| {
                    let latest = TypePolicy::Latest {
                        key: String::new(),
                        priority: Priority::High,
                    };
                    s.types.insert("score".into(), latest);
                },
                "types (length of a latest key)",
            ),
            (
                |s| s.recording.kinds = vec!["k".into(); MAX_TYPES + 1],
                "recording.kinds",
            ),
            (|s| s.reliable.max_tries = 0, "reliable.max_tries"),
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
