-- Recurring orders: a plan (buy or sell a quantity, or an amount of money, of a symbol
-- on a schedule in the exchange's time zone) and its runs. A run is claimed by moving
-- the plan's next_run_at on with a compare-and-set, in the transaction that writes the
-- run (`pending`); its order carries a client_order_id made from the plan and the run's
-- time, so submitting it again after a restart finds the order instead of making one.
-- Times are microseconds since the Unix epoch.
CREATE TABLE auto_recurring (
    id            TEXT    PRIMARY KEY,
    user_id       BIGINT  NOT NULL,
    symbol        TEXT    NOT NULL,
    side          TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty           BIGINT  CHECK (qty > 0),
    notional      BIGINT  CHECK (notional > 0),             -- cents
    frequency     TEXT    NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    weekdays      TEXT    NOT NULL DEFAULT '',              -- "mon,thu" (weekly)
    day_of_month  INT,                                      -- 1 to 28 (monthly)
    at_time       TEXT    NOT NULL,                         -- "HH:MM", exchange time
    status        TEXT    NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'paused', 'deleted')),
    next_run_at   BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    CHECK ((qty IS NULL) <> (notional IS NULL))
);
CREATE INDEX auto_recurring_by_user ON auto_recurring (user_id, created_at);
CREATE INDEX auto_recurring_due ON auto_recurring (next_run_at) WHERE status = 'active';

CREATE TABLE auto_recurring_runs (
    plan_id         TEXT    NOT NULL REFERENCES auto_recurring (id),
    scheduled_for   BIGINT  NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'submitted', 'skipped', 'rejected')),
    client_order_id TEXT    NOT NULL,
    order_id        TEXT,
    detail          TEXT,
    ran_at          BIGINT,
    PRIMARY KEY (plan_id, scheduled_for)
);
CREATE INDEX auto_recurring_runs_pending ON auto_recurring_runs (scheduled_for)
    WHERE status = 'pending';
