-- Price alerts (see ../0002_alerts.sql); times are microseconds since the Unix epoch.
CREATE TABLE auto_alerts (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    symbol          TEXT    NOT NULL,
    condition       TEXT    NOT NULL CHECK (condition IN ('at_or_above', 'at_or_below')),
    price           INTEGER NOT NULL CHECK (price > 0),
    note            TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'triggered', 'canceled')),
    triggered_price INTEGER,
    triggered_seq   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    triggered_at    INTEGER
);
CREATE INDEX auto_alerts_by_user ON auto_alerts (user_id, created_at);
CREATE INDEX auto_alerts_active ON auto_alerts (status, created_at);
CREATE INDEX auto_alerts_changed ON auto_alerts (updated_at);
CREATE INDEX auto_alerts_triggered ON auto_alerts (status, triggered_at);
