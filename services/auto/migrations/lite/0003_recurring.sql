-- Recurring orders (see ../0003_recurring.sql).
CREATE TABLE auto_recurring (
    id            TEXT    PRIMARY KEY,
    user_id       INTEGER  NOT NULL,
    symbol        TEXT    NOT NULL,
    side          TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty           INTEGER  CHECK (qty > 0),
    notional      INTEGER  CHECK (notional > 0),             -- cents
    frequency     TEXT    NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    weekdays      TEXT    NOT NULL DEFAULT '',              -- "mon,thu" (weekly)
    day_of_month  INTEGER,                                      -- 1 to 28 (monthly)
    at_time       TEXT    NOT NULL,                         -- "HH:MM", exchange time
    status        TEXT    NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'paused', 'deleted')),
    next_run_at   INTEGER,
    created_at    INTEGER  NOT NULL,
    updated_at    INTEGER  NOT NULL,
    CHECK ((qty IS NULL) <> (notional IS NULL))
);
CREATE INDEX auto_recurring_by_user ON auto_recurring (user_id, created_at);
CREATE INDEX auto_recurring_due ON auto_recurring (status, next_run_at);

CREATE TABLE auto_recurring_runs (
    plan_id         TEXT    NOT NULL REFERENCES auto_recurring (id),
    scheduled_for   INTEGER  NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'submitted', 'skipped', 'rejected')),
    client_order_id TEXT    NOT NULL,
    order_id        TEXT,
    detail          TEXT,
    ran_at          INTEGER,
    PRIMARY KEY (plan_id, scheduled_for)
);
CREATE INDEX auto_recurring_runs_pending ON auto_recurring_runs (status, scheduled_for);
