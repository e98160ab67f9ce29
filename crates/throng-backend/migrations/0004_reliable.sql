-- Reliable messages (gifts, red packets): kept until they expire, so that members who
-- have not acknowledged them get them again, also after a restart.
CREATE TABLE IF NOT EXISTS reliable_messages (
    room TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,   -- Unix ms
    message TEXT NOT NULL,         -- the message as JSON
    PRIMARY KEY (room, id)
);
CREATE INDEX IF NOT EXISTS reliable_messages_expiry ON reliable_messages (expires_at);
