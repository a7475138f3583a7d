-- Price alerts: "tell me when ACME trades at or above 120". Armed by the auto service
-- like a stop (the same trigger index), fired at most once by a compare-and-set from
-- `active` to `triggered` that records the trade; the notification service tells the
-- owner.
CREATE TABLE auto_alerts (
    id              TEXT        PRIMARY KEY,                -- a UUID
    user_id         BIGINT      NOT NULL,
    symbol          TEXT        NOT NULL,
    condition       TEXT        NOT NULL CHECK (condition IN ('at_or_above', 'at_or_below')),
    price           BIGINT      NOT NULL CHECK (price > 0), -- cents
    note            TEXT        NOT NULL DEFAULT '',
    status          TEXT        NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'triggered', 'canceled')),
    triggered_price BIGINT,                                 -- the trade's price, cents
    triggered_seq   BIGINT,                                 -- the trade's sequence number
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    triggered_at    TIMESTAMPTZ
);
CREATE INDEX auto_alerts_by_user ON auto_alerts (user_id, created_at);
CREATE INDEX auto_alerts_active ON auto_alerts (created_at) WHERE status = 'active';
CREATE INDEX auto_alerts_changed ON auto_alerts (updated_at);
-- What the notification service reads.
CREATE INDEX auto_alerts_triggered ON auto_alerts (triggered_at) WHERE status = 'triggered';
