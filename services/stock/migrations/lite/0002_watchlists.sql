-- The embedded store's watchlists: the SQLite twin of ../0002_watchlists.sql.
CREATE TABLE watchlists (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    symbols    TEXT    NOT NULL DEFAULT '[]',
    version    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,             -- microseconds since the Unix epoch
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX watchlists_by_user ON watchlists (user_id, created_at);
