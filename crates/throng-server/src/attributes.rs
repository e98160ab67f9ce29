//! Room attributes on a node: writes from the server API and from members, checks of who
//! may write, and the announcement of each new version.
//!
//! Attributes live in the [`throng_backend::HotState`] (shared by every node), not in a
//! room host, so they outlast hosts that stop when a room empties. After a write, the new
//! version is announced as a control message (kind [`ATTR_KIND`]) on the room's bus;
//! every host of the room merges announcements and sends its members one `attr_notify`
//! per flush interval; members pull the changes after the version they hold.

use throng_backend::{AttrWrite, BackendError, Backends, Draft};
use throng_protocol::attrs::{Change, Since, Snapshot};
use throng_protocol::{ErrorCode, Priority};
use throng_room::attributes::AttrError;
use throng_room::RoomSettings;

/// Message kind of attribute announcements on the bus (client kinds cannot start with `@`).
pub const ATTR_KIND: &str = "@attr";

/// Announces that `room`'s attributes reached `version`.
pub async fn announce(backends: &Backends, room: &str, version: u64) -> Result<(), BackendError> {
    let draft = Draft {
        from: crate::gateway::SERVER_SENDER.to_owned(),
        kind: ATTR_KIND.to_owned(),
        priority: Priority::System,
        body: serde_json::json!({ "version": version }),
        id: None,
    };
    backends.bus.publish(room, draft).await.map(|_| ())
}

/// Why a write did not happen.
pub enum WriteError {
    Refused(AttrError),
    Backend(BackendError),
}

/// Applies a write and announces the new version; returns the room's version after it.
pub async fn write(
    backends: &Backends,
    room: &str,
    settings: &RoomSettings,
    write: AttrWrite,
) -> Result<u64, WriteError> {
    let changes: Vec<Change> = backends
        .hot
        .attr_write(room, &settings.attributes, write)
        .await
        .map_err(WriteError::Backend)?
        .map_err(WriteError::Refused)?;
    let version = changes.last().map_or(0, |c| c.version);
    announce(backends, room, version)
        .await
        .map_err(WriteError::Backend)?;
    metrics::counter!(crate::metrics::ATTRIBUTE_WRITES).increment(changes.len() as u64);
    Ok(version)
}

/// The full set, for a member that just joined (None when the room has none).
pub async fn snapshot(backends: &Backends, room: &str) -> Result<Option<Snapshot>, BackendError> {
    let mut state = Snapshot::default();
    let since = backends.hot.attr_since(room, 0).await?;
    throng_protocol::attrs::apply(&mut state, since).expect("changes since 0 start at 1");
    Ok((state.version > 0).then_some(state))
}

/// A pull's answer as the two optional fields of the `attrs` frame.
pub fn split(since: Since) -> (Option<Vec<Change>>, Option<Snapshot>) {
    match since {
        Since::Changes(changes) => (Some(changes), None),
        Since::Snapshot(snapshot) => (None, Some(snapshot)),
    }
}

/// The wire code of a refused write: conflicts have their own, the rest name the rule.
pub fn refusal(e: &AttrError) -> (ErrorCode, String) {
    let code = if matches!(e, AttrError::VersionMismatch { .. }) {
        ErrorCode::ATTR_CONFLICT
    } else {
        ErrorCode::ATTR_REFUSED
    };
    (code, format!("{}: {e}", e.code()))
}
