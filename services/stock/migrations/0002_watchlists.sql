-- Watchlists (`/v2/watchlists`): each user's named lists of symbols to follow.
-- `symbols` is a JSON array of tickers in the order they were added. `version` goes
-- up by one on each change: a change is saved only over the version it was made from,
-- so two changes at once never lose one of them (the later one is made again).
CREATE TABLE watchlists (
    id         TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    name       TEXT        NOT NULL,
    symbols    TEXT        NOT NULL DEFAULT '[]',
    version    BIGINT      NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (user_id, name)
);
CREATE INDEX watchlists_by_user ON watchlists (user_id, created_at);
