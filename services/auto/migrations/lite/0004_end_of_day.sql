-- The closes whose end of day was sent to the engine: one row per session close,
-- inserted by the one instance that sends it (the insert is the claim), so the engine
-- hears each end of day at most once. Times are microseconds since the Unix epoch.
CREATE TABLE auto_end_of_day (
    close_at   BIGINT PRIMARY KEY,
    claimed_at BIGINT NOT NULL,
    done_at    BIGINT            -- the engine finished it; null: claimed, not confirmed
);
