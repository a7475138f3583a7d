-- The SQLite twin of ../0005_held_orders.sql: conditional orders held until the auto
-- service triggers them. SQLite cannot change a CHECK constraint in place: the table
-- is made again with the wider one and the new columns, and the rows copied over.
CREATE TABLE trader_orders_new (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    client_order_id TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL
        CHECK (type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
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
    stop_price      INTEGER,
    trail_price     INTEGER,
    trail_ppm       INTEGER,
    hwm             INTEGER,
    triggered_at    INTEGER,
    UNIQUE (user_id, client_order_id)
);
INSERT INTO trader_orders_new (id, user_id, client_order_id, token, symbol, side, type,
    time_in_force, qty, limit_price, status, filled_qty, filled_value, order_seq, known_seq,
    reject_reason, created_at, updated_at, replaces, replaced_by, carried_value)
SELECT id, user_id, client_order_id, token, symbol, side, type, time_in_force, qty,
    limit_price, status, filled_qty, filled_value, order_seq, known_seq, reject_reason,
    created_at, updated_at, replaces, replaced_by, carried_value
FROM trader_orders;
DROP TABLE trader_orders;
ALTER TABLE trader_orders_new RENAME TO trader_orders;
CREATE INDEX trader_orders_by_user ON trader_orders (user_id, created_at);
CREATE INDEX trader_orders_by_verdict ON trader_orders (user_id, known_seq);
CREATE INDEX trader_orders_by_token ON trader_orders (user_id, token);
CREATE INDEX trader_orders_unresolved ON trader_orders (updated_at)
    WHERE status = 'pending_new' AND known_seq = 0;
CREATE INDEX trader_orders_held ON trader_orders (created_at) WHERE status = 'held';
CREATE INDEX trader_orders_conditional ON trader_orders (updated_at)
    WHERE type IN ('stop', 'stop_limit', 'trailing_stop');
