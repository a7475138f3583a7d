-- The embedded store's trader table: the SQLite twin of ../0001_trader_orders.sql and
-- the migrations after it. Times are microseconds since the Unix epoch.
CREATE TABLE trader_orders (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    client_order_id TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL CHECK (type IN ('market', 'limit')),
    time_in_force   TEXT    NOT NULL,
    qty             INTEGER NOT NULL,
    limit_price     INTEGER,
    status          TEXT    NOT NULL,
    filled_qty      INTEGER NOT NULL DEFAULT 0,
    filled_value    INTEGER NOT NULL DEFAULT 0,
    order_seq       INTEGER,
    known_seq       INTEGER NOT NULL DEFAULT 0,
    reject_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    replaces        TEXT,
    replaced_by     TEXT,
    carried_value   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, client_order_id)
);
CREATE INDEX trader_orders_by_user ON trader_orders (user_id, created_at);
CREATE INDEX trader_orders_by_verdict ON trader_orders (user_id, known_seq);
CREATE INDEX trader_orders_by_token ON trader_orders (user_id, token);
CREATE INDEX trader_orders_unresolved ON trader_orders (created_at)
    WHERE status = 'pending_new' AND known_seq = 0;
