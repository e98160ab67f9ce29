//! Room attribute wire types: one change, an entry, the full set at a version, the answer
//! to "what changed since version v", and [`apply`], which brings a client's copy up to
//! date. The server keeps attributes in `throng-room`'s `RoomAttributes`; these types are
//! what travels, and the SDKs use [`apply`] to mirror the room's set.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One change, as logged and as sent to clients.
///
/// JSON: `{"version":7,"key":"seat:1","value":{"user":"u1"},"by":"u1","ts":1700000000000}`
/// for a set, `{"version":8,"key":"seat:1","deleted":true,"by":"u1","ts":...}` for a
/// deletion. `deleted` is true exactly when `value` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// The room attribute version this change produced.
    pub version: u64,
    pub key: String,
    /// The new value; absent for a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The user who made the change; absent when the server API made it. For deletions
    /// by [`RoomAttributes::remove_owned_by`], the user who left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When the change was made, in the milliseconds the caller passed.
    pub ts: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// One entry as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    pub value: Value,
    /// The version of the change that last set this entry.
    pub version: u64,
    /// Who set it last (its owner); absent when the server API did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was last set (`updated_at`).
    pub ts: u64,
}

/// The full set at one version. JSON:
/// `{"version":7,"entries":{"seat:1":{"value":...,"version":7,"by":"u1","ts":...}}}`,
/// keys in byte order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub version: u64,
    pub entries: BTreeMap<String, Entry>,
}

/// What a client holds: the last snapshot it got, with the changes since applied. A new
/// client starts from `ClientState::default()` (version 0, nothing set).
pub type ClientState = Snapshot;

/// The answer to "what changed since version v". JSON: `{"changes":[...]}` or
/// `{"snapshot":{"version":...,"entries":{...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Since {
    /// The changes after v, oldest first, with consecutive versions; empty when v is
    /// current.
    Changes(Vec<Change>),
    /// The full set: replace the client's state with it.
    Snapshot(Snapshot),
}

/// [`apply`] met a change that does not follow the state's version: some change in
/// between is missing, so the client must pull again from its version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute change {got} does not follow version {have}")]
pub struct Gap {
    pub have: u64,
    pub got: u64,
}

/// Applies an answer of a room's `changes_since` (in `throng-room`) to a client's state; the SDKs
/// mirror this function.
///
/// A snapshot replaces the state. Changes are applied in order; one at or below the
/// state's version was applied already (a repeated pull) and is skipped. A change beyond
/// the next version stops the replay with a [`Gap`], leaving the state consistent at the
/// last version applied.
pub fn apply(state: &mut ClientState, since: Since) -> Result<(), Gap> {
    match since {
        Since::Snapshot(snapshot) => {
            *state = snapshot;
            Ok(())
        }
        Since::Changes(changes) => changes
            .into_iter()
            .try_for_each(|change| apply_change(state, change)),
    }
}

fn apply_change(state: &mut ClientState, change: Change) -> Result<(), Gap> {
    if change.version <= state.version {
        return Ok(());
    }
    if change.version != state.version + 1 {
        return Err(Gap {
            have: state.version,
            got: change.version,
        });
    }
    state.version = change.version;
    match change.value {
        Some(value) => {
            let entry = Entry {
                value,
                version: change.version,
                by: change.by,
                ts: change.ts,
            };
            state.entries.insert(change.key, entry);
        }
        None => {
            state.entries.remove(&change.key);
        }
    }
    Ok(())
}
