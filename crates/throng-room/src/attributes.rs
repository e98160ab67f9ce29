//! Room attributes: per-room key/value state (mic seats, game roles) with a versioned,
//! bounded change log, so newcomers get the full set and everyone else only what changed
//! (seed 001 §10).
//!
//! # Versions
//!
//! A room's attributes have one version, a `u64` that starts at 0 (nothing set yet) and
//! grows by exactly one with every change: a set, a delete, or each entry removed by
//! [`RoomAttributes::remove_owned_by`]. A refused operation changes nothing and uses no
//! version. Each entry remembers the version that last set it, so a client can also
//! compare-and-set a single key ([`SetOptions::expect_version`]; version 0 means "absent").
//!
//! # The change log and the fallback to a snapshot
//!
//! Besides the full set, the room keeps the most recent changes in order, at most
//! [`AttributeLimits::max_log`] of them; when the log is full the oldest change is dropped.
//! Because versions have no holes, the log always holds a contiguous range of versions,
//! and a client that holds version `v` can be brought up to date with the changes after
//! `v` exactly when none of them has been dropped. [`RoomAttributes::changes_since`]
//! therefore answers:
//! - nothing ([`Since::Changes`] with no changes) when `v` is the current version;
//! - the changes after `v`, oldest first, when they are all still in the log;
//! - the full set ([`Since::Snapshot`]) when some of them fell out of the log, and also
//!   when `v` is newer than the current version. A client can only hold such a version if
//!   its state came from an earlier life of the room's attributes (a server restart, or a
//!   room that was emptied and created again, both of which start again at version 0), so
//!   its state is replaced rather than refused: refusing would only make it ask again.
//!
//! The server delivers changes as it delivers messages, by notify-then-pull: it tells
//! members the new version, and each pulls the changes since the version it holds. A new
//! member takes [`RoomAttributes::snapshot`] directly. [`apply`] is the client side of
//! both, and replaying `changes_since(v)` onto a client's state at `v` gives exactly
//! `snapshot()` (the module tests check this for every version a client might hold).
//!
//! # Ownership
//!
//! An entry's owner is the user who set it last (`by`, `None` when the app's backend set
//! it through the server API). A member may ask for its entry to be deleted when it
//! leaves (`delete_on_leave`); the server calls [`RoomAttributes::remove_owned_by`] when
//! the user's last connection leaves the room, which deletes every entry that user set
//! last with that flag. Setting a key again makes the new setter its owner and takes the
//! new call's flag, so a seat taken over by someone else is not cleared when the previous
//! holder leaves. Who may set or delete which key is the server's decision; this module
//! only records the owner ([`RoomAttributes::get`]) so the server can enforce it.
//!
//! # Bounds
//!
//! The entries are bounded by `max_keys` × (`max_key_bytes` + `max_value_bytes`), the log
//! by `max_log` changes of at most one value each. At the key bound a new key is refused
//! (`attr_too_many_keys`) while existing keys can still be changed; at the log bound the
//! oldest change is dropped and clients behind it get the full set.

use crate::settings::{check, SettingsError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

#[cfg(test)]
mod tests;

/// Limits on one room's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeLimits {
    /// The most keys a room holds; setting a new key beyond it is refused.
    pub max_keys: u32,
    /// The longest key, in bytes. Keys use `A-Z a-z 0-9 _ - . :` only.
    pub max_key_bytes: u32,
    /// The largest value, measured as its compact JSON encoding, in bytes.
    pub max_value_bytes: u32,
    /// The most changes the log keeps; older ones are dropped and clients that still need
    /// them get the full set. 0 keeps no log: every client that is behind gets the full set.
    pub max_log: u32,
}

impl Default for AttributeLimits {
    fn default() -> AttributeLimits {
        AttributeLimits {
            max_keys: 100,
            max_key_bytes: 64,
            max_value_bytes: 4096,
            max_log: 1000,
        }
    }
}

impl AttributeLimits {
    /// Checks every field against its range; the error names the first bad field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check("max_keys", self.max_keys, 1, 10_000)?;
        check("max_key_bytes", self.max_key_bytes, 1, 256)?;
        check("max_value_bytes", self.max_value_bytes, 2, 65_536)?;
        check("max_log", self.max_log, 0, 100_000)?;
        Ok(())
    }
}

/// What is wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Empty,
    TooLong {
        bytes: usize,
        max: u32,
    },
    /// The first character outside `A-Z a-z 0-9 _ - . :`.
    Character(char),
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Empty => write!(f, "the key is empty"),
            KeyProblem::TooLong { bytes, max } => {
                write!(f, "the key is {bytes} bytes long, the most is {max}")
            }
            KeyProblem::Character(c) => write!(
                f,
                "the key contains {c:?}; keys use A-Z a-z 0-9 _ - . : only"
            ),
        }
    }
}

/// Why an attribute operation was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    #[error("invalid attribute key: {0}")]
    KeyInvalid(KeyProblem),
    #[error("the value is {bytes} bytes as JSON, the most is {max}")]
    ValueTooLarge { bytes: usize, max: u32 },
    /// `null` is not a value: on the wire it could not be told from "no value" (a
    /// deletion). Delete the key instead.
    #[error("the value is null; delete the key instead")]
    ValueNull,
    #[error("the room already has {max} attribute keys")]
    TooManyKeys { max: u32 },
    /// Compare-and-set failed. `actual` is 0 when the key is absent.
    #[error("key {key:?} is at version {actual}, not {expected}")]
    VersionMismatch {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("no attribute with key {key:?}")]
    NotFound { key: String },
    /// `delete_on_leave` needs a member to leave: an entry set by the server API has none.
    #[error("delete_on_leave needs an owner")]
    OwnerRequired,
}

impl AttrError {
    /// A stable snake_case code per variant, for the server's error frames and API errors.
    /// A code's meaning never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            AttrError::KeyInvalid(_) => "attr_key_invalid",
            AttrError::ValueTooLarge { .. } => "attr_value_too_large",
            AttrError::ValueNull => "attr_value_null",
            AttrError::TooManyKeys { .. } => "attr_too_many_keys",
            AttrError::VersionMismatch { .. } => "attr_version_mismatch",
            AttrError::NotFound { .. } => "attr_not_found",
            AttrError::OwnerRequired => "attr_owner_required",
        }
    }
}

pub use throng_protocol::attrs::{apply, Change, ClientState, Entry, Gap, Since, Snapshot};

/// How [`RoomAttributes::set`] sets a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions<'a> {
    /// The user setting it, who becomes its owner; `None` for the server API.
    pub by: Option<&'a str>,
    /// Delete the entry when its owner leaves the room (needs `by`).
    pub delete_on_leave: bool,
    /// Compare-and-set: only if the key is at this version now (0: only if absent).
    pub expect_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredEntry {
    entry: Entry,
    delete_on_leave: bool,
}

/// The attributes of one room: the full set, the version and the change log.
#[derive(Debug, Clone)]
pub struct RoomAttributes {
    limits: AttributeLimits,
    entries: BTreeMap<String, StoredEntry>,
    version: u64,
    /// The latest changes, oldest first. Versions are consecutive, the first being
    /// `dropped_through + 1`.
    log: VecDeque<Change>,
    /// The highest version no longer in the log (0 when nothing was dropped).
    dropped_through: u64,
}

impl RoomAttributes {
    /// Empty attributes at version 0. `limits` should have passed
    /// [`AttributeLimits::validate`].
    pub fn new(limits: AttributeLimits) -> RoomAttributes {
        RoomAttributes {
            limits,
            entries: BTreeMap::new(),
            version: 0,
            log: VecDeque::new(),
            dropped_through: 0,
        }
    }

    pub fn limits(&self) -> &AttributeLimits {
        &self.limits
    }

    /// Changes the limits. A smaller log drops its oldest changes now; keys beyond a
    /// smaller `max_keys` stay until deleted, but no new key is accepted until the room is
    /// under the limit again.
    pub fn set_limits(&mut self, limits: AttributeLimits) {
        self.limits = limits;
        self.trim_log();
    }

    /// The current version: that of the last change, 0 before any.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for a key; its `by` is the owner, for the server's permission checks.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|stored| &stored.entry)
    }

    /// Changes in the log now.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Sets a key, giving it the next version. Returns the change to notify.
    pub fn set(
        &mut self,
        key: &str,
        value: Value,
        options: SetOptions<'_>,
        now_ms: u64,
    ) -> Result<Change, AttrError> {
        self.check_key(key)?;
        if value.is_null() {
            return Err(AttrError::ValueNull);
        }
        let bytes = json_len(&value);
        if bytes > self.limits.max_value_bytes as usize {
            return Err(AttrError::ValueTooLarge {
                bytes,
                max: self.limits.max_value_bytes,
            });
        }
        if options.delete_on_leave && options.by.is_none() {
            return Err(AttrError::OwnerRequired);
        }
        self.check_expected_version(key, options.expect_version)?;
        if !self.entries.contains_key(key) && self.entries.len() >= self.limits.max_keys as usize {
            return Err(AttrError::TooManyKeys {
                max: self.limits.max_keys,
            });
        }

        let version = self.version + 1;
        let by = options.by.map(str::to_owned);
        let stored = StoredEntry {
            entry: Entry {
                value: value.clone(),
                version,
                by: by.clone(),
                ts: now_ms,
            },
            delete_on_leave: options.delete_on_leave,
        };
        self.entries.insert(key.to_owned(), stored);
        Ok(self.record(Change {
            version,
            key: key.to_owned(),
            value: Some(value),
            deleted: false,
            by,
            ts: now_ms,
        }))
    }

    /// Deletes a key, giving the deletion the next version. `by` is who deleted it
    /// (`None` for the server API); `expect_version` makes it a compare-and-delete.
    pub fn delete(
        &mut self,
        key: &str,
        by: Option<&str>,
        expect_version: Option<u64>,
        now_ms: u64,
    ) -> Result<Change, AttrError> {
        // An existing key is deletable even if it no longer passes limits lowered since.
        if !self.entries.contains_key(key) {
            self.check_key(key)?;
        }
        self.check_expected_version(key, expect_version)?;
        if self.entries.remove(key).is_none() {
            return Err(AttrError::NotFound {
                key: key.to_owned(),
            });
        }
        Ok(self.record(Change {
            version: self.version + 1,
            key: key.to_owned(),
            value: None,
            deleted: true,
            by: by.map(str::to_owned),
            ts: now_ms,
        }))
    }

    /// Deletes every entry `user` set last with `delete_on_leave`, in key order, one
    /// version each. The server calls it when the user's last connection leaves the room.
    /// Costs one pass over the room's keys (at most `max_keys`).
    pub fn remove_owned_by(&mut self, user: &str, now_ms: u64) -> Vec<Change> {
        let owned: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, stored)| {
                stored.delete_on_leave && stored.entry.by.as_deref() == Some(user)
            })
            .map(|(key, _)| key.clone())
            .collect();
        owned
            .into_iter()
            .map(|key| {
                self.entries.remove(&key);
                self.record(Change {
                    version: self.version + 1,
                    key,
                    value: None,
                    deleted: true,
                    by: Some(user.to_owned()),
                    ts: now_ms,
                })
            })
            .collect()
    }

    /// The full set at the current version, for a new member.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            entries: self
                .entries
                .iter()
                .map(|(key, stored)| (key.clone(), stored.entry.clone()))
                .collect(),
        }
    }

    /// What a client that holds `version` needs to reach the current version: nothing,
    /// the changes after it, or the full set when those changes are no longer all in the
    /// log or `version` is newer than the current one (see the module docs).
    pub fn changes_since(&self, version: u64) -> Since {
        if version > self.version || version < self.dropped_through {
            return Since::Snapshot(self.snapshot());
        }
        // The log holds versions dropped_through + 1 ..= self.version, in order.
        let first_needed = (version - self.dropped_through) as usize;
        Since::Changes(self.log.range(first_needed..).cloned().collect())
    }

    fn check_key(&self, key: &str) -> Result<(), AttrError> {
        let problem = if key.is_empty() {
            Some(KeyProblem::Empty)
        } else if key.len() > self.limits.max_key_bytes as usize {
            Some(KeyProblem::TooLong {
                bytes: key.len(),
                max: self.limits.max_key_bytes,
            })
        } else {
            key.chars()
                .find(|&c| !is_key_char(c))
                .map(KeyProblem::Character)
        };
        match problem {
            Some(problem) => Err(AttrError::KeyInvalid(problem)),
            None => Ok(()),
        }
    }

    fn check_expected_version(&self, key: &str, expected: Option<u64>) -> Result<(), AttrError> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let actual = self.get(key).map_or(0, |entry| entry.version);
        if actual == expected {
            Ok(())
        } else {
            Err(AttrError::VersionMismatch {
                key: key.to_owned(),
                expected,
                actual,
            })
        }
    }

    /// Takes the change's version as the room's, appends it to the log and returns it.
    fn record(&mut self, change: Change) -> Change {
        debug_assert_eq!(change.version, self.version + 1);
        self.version = change.version;
        self.log.push_back(change.clone());
        self.trim_log();
        change
    }

    fn trim_log(&mut self) {
        while self.log.len() > self.limits.max_log as usize {
            let dropped = self.log.pop_front().expect("log is longer than max_log");
            self.dropped_through = dropped.version;
        }
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// The length of the value's compact JSON encoding, counted without building it.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("a JSON value always encodes");
    counter.0
}
