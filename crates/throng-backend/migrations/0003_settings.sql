-- Server-wide settings changed through the server API (for example the word filter),
-- as JSON, so they survive a restart.
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
