-- Moderation lists: mutes, bans, whitelist, blacklist and room mutes, per room or global.
CREATE TABLE IF NOT EXISTS sanctions (
    kind TEXT NOT NULL,            -- mute | ban | whitelist | blacklist | room_mute
    room TEXT NOT NULL,            -- '' for all rooms
    user_id TEXT NOT NULL,         -- '' for a room mute
    until INTEGER,                 -- Unix ms, NULL until lifted
    reason TEXT,
    by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, room, user_id)
);
