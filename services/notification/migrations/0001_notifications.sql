-- The notification service's tables. `notifications` is each user's inbox: one row per
-- (user, event), whatever the broker redelivers (`event_key` names the event: the
-- engine sequence number and the order's engine id). `notification_deliveries` is the
-- webhook outbox, written in the same transaction as the inbox row it delivers;
-- `notification_attempts` its log, one row per call made.
CREATE TABLE notifications (
    id          BIGSERIAL   PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    event_key   TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    body        TEXT        NOT NULL,               -- the payload, JSON
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    read_at     TIMESTAMPTZ,
    UNIQUE (user_id, event_key)
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;

-- Kinds a user switched from their default (absent: the default).
CREATE TABLE notification_preferences (
    user_id BIGINT  NOT NULL,
    kind    TEXT    NOT NULL,
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- One webhook per user; the secret signs every call (HMAC-SHA256).
CREATE TABLE notification_webhooks (
    user_id     BIGINT      PRIMARY KEY,
    url         TEXT        NOT NULL,
    secret      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE notification_deliveries (
    id              BIGSERIAL   PRIMARY KEY,
    notification_id BIGINT      NOT NULL UNIQUE REFERENCES notifications (id),
    user_id         BIGINT      NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INT         NOT NULL DEFAULT 0,
    next_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_at)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_by_user ON notification_deliveries (user_id, id);

CREATE TABLE notification_attempts (
    delivery_id BIGINT      NOT NULL REFERENCES notification_deliveries (id),
    attempt     INT         NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    url         TEXT        NOT NULL,
    status_code INT,                                -- the receiver's answer, if any
    error       TEXT,                               -- why it failed, if it did
    duration_us BIGINT      NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
