-- The notification service's tables (see ../0001_notifications.sql); times are
-- microseconds since the Unix epoch.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    event_key   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER,
    UNIQUE (user_id, event_key)
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);

CREATE TABLE notification_preferences (
    user_id INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    enabled INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
);

CREATE TABLE notification_webhooks (
    user_id     INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id INTEGER NOT NULL UNIQUE REFERENCES notifications (id),
    user_id         INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_at);
CREATE INDEX notification_deliveries_by_user ON notification_deliveries (user_id, id);

CREATE TABLE notification_attempts (
    delivery_id INTEGER NOT NULL REFERENCES notification_deliveries (id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    url         TEXT    NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_us INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
