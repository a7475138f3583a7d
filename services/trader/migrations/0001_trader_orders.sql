-- The orders entered through the trader service, with what Alpaca's API shows and the
-- engine does not keep (order type, time in force, times, the client's order id), and
-- the engine's verdict as of the request: a client reads its own writes from here
-- before settlement (`orders`, the order service's table) has caught up.
CREATE TABLE trader_orders (
    id              TEXT        PRIMARY KEY,            -- Alpaca's order id (a UUID)
    user_id         BIGINT      NOT NULL,
    client_order_id TEXT        NOT NULL,
    token           TEXT        NOT NULL,               -- the engine's client order id
    symbol          TEXT        NOT NULL,
    side            TEXT        NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT        NOT NULL CHECK (type IN ('market', 'limit')),
    time_in_force   TEXT        NOT NULL,
    qty             BIGINT      NOT NULL,
    limit_price     BIGINT,
    status          TEXT        NOT NULL,               -- Alpaca's status, as of known_seq
    filled_qty      BIGINT      NOT NULL DEFAULT 0,
    filled_value    BIGINT      NOT NULL DEFAULT 0,     -- sum of price × qty of its fills
    order_seq       BIGINT,                             -- the engine's accepted event
    known_seq       BIGINT      NOT NULL DEFAULT 0,     -- the last engine event reflected here
    reject_reason   TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (user_id, client_order_id)
);
CREATE INDEX trader_orders_by_user ON trader_orders (user_id, created_at);
