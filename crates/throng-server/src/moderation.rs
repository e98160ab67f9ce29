//! Moderation on a node: the in-memory index of the lists (loaded from the store at
//! start, written through on every change), the one code path that carries out an action
//! from the server API or from a moderator's connection, and how the action reaches the
//! connections it concerns.
//!
//! An action is stored first (so it survives a restart), then applied to the index
//! (so the next join or message is checked against it), then published as a control
//! message on the room's bus (or on [`GLOBAL_TOPIC`] for all rooms). Every node hosting
//! the room receives it like any room message; its room host applies it to its local
//! members (event frame, removal) instead of delivering it. So moderation takes the same
//! path across nodes as messages do.

use crate::node::Node;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use throng_backend::{BackendError, Draft};
use throng_protocol::{ModerateAction, Priority};
use throng_room::moderation::{Denied, IndexFull, ListKind, Sanction};

/// Message kind of moderation control messages on the bus. Client kinds cannot start
/// with `@`, so these never mix with app messages.
pub const CONTROL_KIND: &str = "@moderation";

/// Bus topic for actions across all rooms. Room ids cannot contain `@`.
pub const GLOBAL_TOPIC: &str = "@global";

/// The body of a control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub action: ModerateAction,
    pub user: Option<String>,
    pub until: Option<u64>,
    pub reason: Option<String>,
    pub by: String,
    /// The action applies to all rooms.
    pub global: bool,
}

/// Why an action could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("this action needs a user")]
    MissingUser,
    #[error("this action applies to the whole room and takes no user")]
    UnexpectedUser,
    #[error("only mute, unmute, ban and unban apply to all rooms")]
    NotGlobal,
    #[error("user ids are 1-128 bytes")]
    InvalidUser,
    #[error(transparent)]
    Full(#[from] IndexFull),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The list an action adds to (true) or removes from (false); None for a kick.
fn list_change(action: ModerateAction) -> Option<(ListKind, bool)> {
    use ModerateAction::*;
    Some(match action {
        Mute => (ListKind::Mute, true),
        Unmute => (ListKind::Mute, false),
        Ban => (ListKind::Ban, true),
        Unban => (ListKind::Ban, false),
        Whitelist => (ListKind::Whitelist, true),
        Unwhitelist => (ListKind::Whitelist, false),
        Blacklist => (ListKind::Blacklist, true),
        Unblacklist => (ListKind::Blacklist, false),
        MuteRoom => (ListKind::RoomMute, true),
        UnmuteRoom => (ListKind::RoomMute, false),
        Kick => return None,
    })
}

/// An action to carry out.
pub struct Action<'a> {
    /// The room, or None for all rooms.
    pub room: Option<&'a str>,
    pub action: ModerateAction,
    pub user: Option<&'a str>,
    pub duration: Option<Duration>,
    pub reason: Option<&'a str>,
    /// `@server` or the moderator's user id.
    pub by: &'a str,
}

impl Node {
    /// Carries out a moderation action; returns the list entry it created, if any.
    /// Removing an entry that does not exist is not an error (the result is the same).
    pub async fn moderate(&self, action: Action<'_>) -> Result<Option<Sanction>, ModerationError> {
        match (action.action.targets_user(), action.user) {
            (true, None) => return Err(ModerationError::MissingUser),
            (false, Some(_)) => return Err(ModerationError::UnexpectedUser),
            (_, Some(user)) if user.is_empty() || user.len() > 128 => {
                return Err(ModerationError::InvalidUser)
            }
            _ => {}
        }
        let change = list_change(action.action);
        if action.room.is_none() && !change.is_some_and(|(kind, _)| kind.can_be_global()) {
            return Err(ModerationError::NotGlobal);
        }
        let now = throng_backend::unix_ms();
        let until = action
            .duration
            .map(|d| now.saturating_add(d.as_millis() as u64));
        let user = action.user.unwrap_or_default();
        let mut created = None;
        if let Some((kind, add)) = change {
            if add {
                let sanction = Sanction {
                    kind,
                    room: action.room.map(str::to_owned),
                    user: user.to_owned(),
                    until,
                    reason: action.reason.map(str::to_owned),
                    by: action.by.to_owned(),
                    created_at: now,
                };
                // Check the bound before storing, so a full index refuses cleanly.
                self.moderation
                    .write()
                    .expect("moderation lock poisoned")
                    .upsert(sanction.clone(), now)?;
                self.backends.store.put_sanction(&sanction).await?;
                created = Some(sanction);
            } else {
                self.backends
                    .store
                    .delete_sanction(kind, action.room, user)
                    .await?;
                self.moderation
                    .write()
                    .expect("moderation lock poisoned")
                    .remove(kind, action.room, user);
            }
        }
        let control = Control {
            action: action.action,
            user: action.user.map(str::to_owned),
            until,
            reason: action.reason.map(str::to_owned),
            by: action.by.to_owned(),
            global: action.room.is_none(),
        };
        let draft = Draft {
            from: action.by.to_owned(),
            kind: CONTROL_KIND.to_owned(),
            priority: Priority::System,
            body: serde_json::to_value(&control).expect("control serialises"),
            id: None,
        };
        self.backends
            .bus
            .publish(action.room.unwrap_or(GLOBAL_TOPIC), draft)
            .await?;
        metrics::counter!(crate::metrics::MODERATION_ACTIONS, "action" => action_name(action.action)).increment(1);
        Ok(created)
    }

    pub fn check_join(&self, room: &str, user: &str) -> Result<(), Denied> {
        let now = throng_backend::unix_ms();
        self.moderation
            .read()
            .expect("moderation lock poisoned")
            .check_join(room, user, now)
    }

    pub fn check_send(&self, room: &str, user: &str) -> Result<(), Denied> {
        let now = throng_backend::unix_ms();
        self.moderation
            .read()
            .expect("moderation lock poisoned")
            .check_send(room, user, now)
    }

    pub fn is_whitelisted(&self, room: &str, user: &str) -> bool {
        let now = throng_backend::unix_ms();
        self.moderation
            .read()
            .expect("moderation lock poisoned")
            .is_whitelisted(room, user, now)
    }

    /// Active entries of a list.
    pub fn moderation_list(&self, kind: ListKind, room: Option<&str>) -> Vec<Sanction> {
        let now = throng_backend::unix_ms();
        self.moderation
            .read()
            .expect("moderation lock poisoned")
            .list(kind, room, now)
    }
}

pub fn action_name(action: ModerateAction) -> &'static str {
    use ModerateAction::*;
    match action {
        Mute => "mute",
        Unmute => "unmute",
        Ban => "ban",
        Unban => "unban",
        Kick => "kick",
        MuteRoom => "mute_room",
        UnmuteRoom => "unmute_room",
        Whitelist => "whitelist",
        Unwhitelist => "unwhitelist",
        Blacklist => "blacklist",
        Unblacklist => "unblacklist",
    }
}

/// The error code and message a client gets for a refused join or message.
pub fn denied_reply(room: &str, denied: Denied) -> (throng_protocol::ErrorCode, String) {
    use throng_protocol::ErrorCode;
    let until = |until: Option<u64>| match until {
        Some(ms) => format!("until {ms} (Unix ms)"),
        None => "until lifted".to_owned(),
    };
    let scope = |global: bool| {
        if global {
            "in all rooms".to_owned()
        } else {
            format!("in room {room:?}")
        }
    };
    match denied {
        Denied::Muted { until: u, global } => (
            ErrorCode::MUTED,
            format!("you are muted {} {}", scope(global), until(u)),
        ),
        Denied::RoomMuted { until: u } => (
            ErrorCode::ROOM_MUTED,
            format!("room {room:?} is muted {}", until(u)),
        ),
        Denied::Banned { until: u, global } => (
            ErrorCode::BANNED,
            format!("you are banned {} {}", scope(global), until(u)),
        ),
        Denied::Blacklisted => (
            ErrorCode::BLACKLISTED,
            format!("you may not join room {room:?}"),
        ),
    }
}
