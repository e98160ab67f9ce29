-- Live rooms created through the server API (or on first join, when enabled).
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY NOT NULL,
    settings TEXT NOT NULL,      -- RoomSettings as JSON
    created_at INTEGER NOT NULL  -- milliseconds since the Unix epoch
);
