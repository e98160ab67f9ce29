//! Who may join and speak in which room: mutes, bans, the whitelist and the blacklist,
//! per room and across all rooms, each with an optional end time.
//!
//! Sans-IO like the rest of this crate: the caller passes the time (Unix milliseconds,
//! since sanctions must outlive restarts) and keeps the lists durable elsewhere; this
//! index answers the questions the hot path asks, in a hash lookup or two.
//!
//! | list | scope | effect |
//! | --- | --- | --- |
//! | mute | room or global | the user's messages are refused (`muted`) |
//! | room mute | room | everyone but whitelisted users is refused (`room_muted`) |
//! | ban | room or global | the user is removed now and refused on join (`banned`) |
//! | blacklist | room | the user may never join (`blacklisted`) until removed |
//! | whitelist | room | never auto-dropped; messages go in the system lane; exempt from the room mute |

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The kind of a moderation list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ListKind {
    Mute,
    Ban,
    Whitelist,
    Blacklist,
    /// The whole room is muted; `user` is empty.
    RoomMute,
}

impl ListKind {
    pub const ALL: [ListKind; 5] = [
        ListKind::Mute,
        ListKind::Ban,
        ListKind::Whitelist,
        ListKind::Blacklist,
        ListKind::RoomMute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Mute => "mute",
            ListKind::Ban => "ban",
            ListKind::Whitelist => "whitelist",
            ListKind::Blacklist => "blacklist",
            ListKind::RoomMute => "room_mute",
        }
    }

    pub fn parse(text: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the kind can apply to all rooms at once.
    pub fn can_be_global(self) -> bool {
        matches!(self, ListKind::Mute | ListKind::Ban)
    }
}

/// One entry of a moderation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sanction {
    pub kind: ListKind,
    /// The room, or `None` for all rooms.
    pub room: Option<String>,
    /// The user, empty for a room mute.
    pub user: String,
    /// When it ends (Unix ms), or `None` until lifted.
    pub until: Option<u64>,
    pub reason: Option<String>,
    /// Who imposed it: `@server` for the server API, else the moderator's user id.
    pub by: String,
    /// Unix ms.
    pub created_at: u64,
}

impl Sanction {
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.until.is_none_or(|until| now_ms < until)
    }
}

/// Why a join or a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Muted { until: Option<u64>, global: bool },
    RoomMuted { until: Option<u64> },
    Banned { until: Option<u64>, global: bool },
    Blacklisted,
}

type Key = (ListKind, Option<String>, String);

/// The moderation lists, indexed for the hot path. Bounded to `max_entries`: adding one
/// more first drops expired entries, then fails (the caller answers with an error).
#[derive(Debug)]
pub struct ModerationIndex {
    entries: HashMap<Key, Sanction>,
    max_entries: usize,
}

/// The index is full of active entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at most {0} moderation entries can be active at once")]
pub struct IndexFull(pub usize);

impl ModerationIndex {
    pub fn new(max_entries: usize) -> ModerationIndex {
        ModerationIndex {
            entries: HashMap::new(),
            max_entries,
        }
    }

    fn key(kind: ListKind, room: Option<&str>, user: &str) -> Key {
        (kind, room.map(str::to_owned), user.to_owned())
    }

    fn active(
        &self,
        kind: ListKind,
        room: Option<&str>,
        user: &str,
        now: u64,
    ) -> Option<&Sanction> {
        self.entries
            .get(&Self::key(kind, room, user))
            .filter(|s| s.is_active(now))
    }

    /// Adds or replaces an entry (same kind, room and user).
    pub fn upsert(&mut self, sanction: Sanction, now: u64) -> Result<(), IndexFull> {
        let key = Self::key(sanction.kind, sanction.room.as_deref(), &sanction.user);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_entries {
            self.purge_expired(now);
            if self.entries.len() >= self.max_entries {
                return Err(IndexFull(self.max_entries));
            }
        }
        self.entries.insert(key, sanction);
        Ok(())
    }

    /// Removes an entry; returns it if it was there (active or not).
    pub fn remove(&mut self, kind: ListKind, room: Option<&str>, user: &str) -> Option<Sanction> {
        self.entries.remove(&Self::key(kind, room, user))
    }

    /// Drops expired entries and returns them (so the caller can drop them from storage).
    pub fn purge_expired(&mut self, now: u64) -> Vec<Sanction> {
        let expired: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, s)| !s.is_active(now))
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .collect()
    }

    /// Active entries of one list, ordered by user.
    pub fn list(&self, kind: ListKind, room: Option<&str>, now: u64) -> Vec<Sanction> {
        let mut out: Vec<Sanction> = self
            .entries
            .values()
            .filter(|s| s.kind == kind && s.room.as_deref() == room && s.is_active(now))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.user.cmp(&b.user));
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn is_whitelisted(&self, room: &str, user: &str, now: u64) -> bool {
        self.active(ListKind::Whitelist, Some(room), user, now)
            .is_some()
    }

    /// May `user` join `room` now? Blacklist first, then room ban, then global ban.
    pub fn check_join(&self, room: &str, user: &str, now: u64) -> Result<(), Denied> {
        if self
            .active(ListKind::Blacklist, Some(room), user, now)
            .is_some()
        {
            return Err(Denied::Blacklisted);
        }
        for (scope, global) in [(Some(room), false), (None, true)] {
            if let Some(ban) = self.active(ListKind::Ban, scope, user, now) {
                return Err(Denied::Banned {
                    until: ban.until,
                    global,
                });
            }
        }
        Ok(())
    }

    /// May `user` send into `room` now? Personal mutes first (room, then global), then the
    /// room mute, from which whitelisted users are exempt.
    pub fn check_send(&self, room: &str, user: &str, now: u64) -> Result<(), Denied> {
        for (scope, global) in [(Some(room), false), (None, true)] {
            if let Some(mute) = self.active(ListKind::Mute, scope, user, now) {
                return Err(Denied::Muted {
                    until: mute.until,
                    global,
                });
            }
        }
        if let Some(mute) = self.active(ListKind::RoomMute, Some(room), "", now) {
            if !self.is_whitelisted(room, user, now) {
                return Err(Denied::RoomMuted { until: mute.until });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanction(kind: ListKind, room: Option<&str>, user: &str, until: Option<u64>) -> Sanction {
        Sanction {
            kind,
            room: room.map(str::to_owned),
            user: user.to_owned(),
            until,
            reason: None,
            by: "@server".into(),
            created_at: 0,
        }
    }

    /// A compact entry: (kind, room or None, user, until).
    type Entry<'a> = (ListKind, Option<&'a str>, &'a str, Option<u64>);
    /// (entries, room, user, now, expected)
    type Case<'a> = (Vec<Entry<'a>>, &'a str, &'a str, u64, Result<(), Denied>);

    /// Builds an index from a compact list: (kind, room or None, user, until).
    fn index(entries: &[Entry]) -> ModerationIndex {
        let mut index = ModerationIndex::new(100);
        for &(kind, room, user, until) in entries {
            index.upsert(sanction(kind, room, user, until), 0).unwrap();
        }
        index
    }

    use ListKind::*;

    #[test]
    fn join_checks() {
        // (entries, room, user, now, expected)
        let cases: Vec<Case> = vec![
            (vec![], "r", "u", 0, Ok(())),
            (
                vec![(Ban, Some("r"), "u", Some(100))],
                "r",
                "u",
                50,
                Err(Denied::Banned {
                    until: Some(100),
                    global: false,
                }),
            ),
            (
                vec![(Ban, Some("r"), "u", Some(100))],
                "r",
                "u",
                100,
                Ok(()),
            ),
            (vec![(Ban, Some("r"), "u", None)], "other", "u", 50, Ok(())),
            (
                vec![(Ban, None, "u", None)],
                "any",
                "u",
                50,
                Err(Denied::Banned {
                    until: None,
                    global: true,
                }),
            ),
            (
                vec![(Blacklist, Some("r"), "u", None), (Ban, None, "u", None)],
                "r",
                "u",
                0,
                Err(Denied::Blacklisted),
            ),
            (vec![(Mute, Some("r"), "u", None)], "r", "u", 0, Ok(())),
            (vec![(Ban, Some("r"), "v", None)], "r", "u", 0, Ok(())),
        ];
        for (entries, room, user, now, expect) in cases {
            assert_eq!(
                index(&entries).check_join(room, user, now),
                expect,
                "{entries:?} {room} {user} at {now}"
            );
        }
    }

    #[test]
    fn send_checks() {
        let cases: Vec<Case> = vec![
            (vec![], "r", "u", 0, Ok(())),
            (
                vec![(Mute, Some("r"), "u", Some(10))],
                "r",
                "u",
                9,
                Err(Denied::Muted {
                    until: Some(10),
                    global: false,
                }),
            ),
            (vec![(Mute, Some("r"), "u", Some(10))], "r", "u", 10, Ok(())),
            (
                vec![(Mute, None, "u", None)],
                "r",
                "u",
                0,
                Err(Denied::Muted {
                    until: None,
                    global: true,
                }),
            ),
            (
                vec![(RoomMute, Some("r"), "", None)],
                "r",
                "u",
                0,
                Err(Denied::RoomMuted { until: None }),
            ),
            (
                vec![
                    (RoomMute, Some("r"), "", None),
                    (Whitelist, Some("r"), "u", None),
                ],
                "r",
                "u",
                0,
                Ok(()),
            ),
            (
                vec![
                    (RoomMute, Some("r"), "", None),
                    (Whitelist, Some("r"), "u", Some(5)),
                ],
                "r",
                "u",
                6,
                Err(Denied::RoomMuted { until: None }),
            ),
            // A personal mute applies even to a whitelisted user.
            (
                vec![
                    (Mute, Some("r"), "u", None),
                    (Whitelist, Some("r"), "u", None),
                ],
                "r",
                "u",
                0,
                Err(Denied::Muted {
                    until: None,
                    global: false,
                }),
            ),
            (
                vec![(RoomMute, Some("other"), "", None)],
                "r",
                "u",
                0,
                Ok(()),
            ),
        ];
        for (entries, room, user, now, expect) in cases {
            assert_eq!(
                index(&entries).check_send(room, user, now),
                expect,
                "{entries:?} {room} {user} at {now}"
            );
        }
    }

    #[test]
    fn lists_show_active_entries_and_lifting_removes() {
        let mut idx = index(&[
            (Mute, Some("r"), "b", None),
            (Mute, Some("r"), "a", Some(10)),
            (Mute, Some("s"), "c", None),
        ]);
        let users = |idx: &ModerationIndex, now| {
            idx.list(Mute, Some("r"), now)
                .into_iter()
                .map(|s| s.user)
                .collect::<Vec<_>>()
        };
        assert_eq!(users(&idx, 0), ["a", "b"]);
        assert_eq!(users(&idx, 10), ["b"]);
        assert!(idx.remove(Mute, Some("r"), "b").is_some());
        assert!(idx.remove(Mute, Some("r"), "b").is_none());
        assert_eq!(users(&idx, 0), ["a"]);
        assert_eq!(idx.purge_expired(10).len(), 1);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn the_index_is_bounded_but_reclaims_expired_entries() {
        let mut idx = ModerationIndex::new(2);
        idx.upsert(sanction(Mute, Some("r"), "a", Some(10)), 0)
            .unwrap();
        idx.upsert(sanction(Mute, Some("r"), "b", None), 0).unwrap();
        assert_eq!(
            idx.upsert(sanction(Mute, Some("r"), "c", None), 5),
            Err(IndexFull(2))
        );
        idx.upsert(sanction(Mute, Some("r"), "b", Some(99)), 5)
            .expect("replacing is always allowed");
        idx.upsert(sanction(Mute, Some("r"), "c", None), 10)
            .expect("a's mute expired and was reclaimed");
    }
}
