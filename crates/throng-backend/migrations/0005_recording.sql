-- Recorded room messages, for replay beside a recorded video: kept per room for the
-- room's `recording.retention_s`, read back by time.
CREATE TABLE IF NOT EXISTS recorded_messages (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,           -- the message's server timestamp, Unix ms
    message TEXT NOT NULL,         -- the message as JSON
    PRIMARY KEY (room, seq)
);
CREATE INDEX IF NOT EXISTS recorded_messages_time ON recorded_messages (room, ts, seq);
