-- Settlement: the database of record for what the engine did.

-- How far settlement has got: the highest engine event sequence number settled,
-- moved in the same transaction as the rows. The settlement queue delivers in
-- sequence order to one consumer at a time, and the bridge only ever publishes again
-- from an earlier checkpoint, so an event at or below this mark is a duplicate: what
-- makes settlement idempotent.
CREATE TABLE settlement_position (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    events     BIGINT NOT NULL,            -- events settled in all
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO settlement_position (id, seq, events) VALUES (1, 0, 0);

CREATE TABLE users (
    user_id     BIGINT PRIMARY KEY,
    created_seq BIGINT NOT NULL
);

-- Orders, keyed by the sequence number of the event that opened them (accepted, or
-- replaced for the new order of a replace); client ids are the users' own.
CREATE TABLE orders (
    order_seq   BIGINT PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    client_id   TEXT   NOT NULL,
    symbol      TEXT   NOT NULL,
    side        TEXT   NOT NULL CHECK (side IN ('buy', 'sell')),
    price       BIGINT,                    -- NULL for market orders
    qty         BIGINT NOT NULL,
    filled      BIGINT NOT NULL DEFAULT 0,
    status      TEXT   NOT NULL CHECK (status IN ('open', 'filled', 'canceled', 'replaced')),
    reason      TEXT,
    updated_seq BIGINT NOT NULL
);
-- Not on status: an index on a column that changes would rule out HOT updates.
CREATE INDEX orders_by_user ON orders (user_id, client_id);

-- Each change of an order's state, in sequence.
CREATE TABLE order_history (
    seq       BIGINT NOT NULL,
    order_seq BIGINT NOT NULL,             -- orders.order_seq (same transaction)
    status    TEXT   NOT NULL,
    filled    BIGINT NOT NULL,
    reason    TEXT,
    PRIMARY KEY (seq, order_seq)
);

CREATE TABLE trades (
    seq            BIGINT PRIMARY KEY,     -- also the execution id
    cmd_seq        BIGINT NOT NULL,
    symbol         TEXT   NOT NULL,
    price          BIGINT NOT NULL,
    qty            BIGINT NOT NULL,
    buyer          BIGINT NOT NULL,
    seller         BIGINT NOT NULL,
    buy_order_seq  BIGINT,
    sell_order_seq BIGINT,
    taker_side     TEXT   NOT NULL
);

-- Double entry: every movement is two or more legs whose amounts sum to zero per
-- (seq, asset). user_id 0 is the world outside the exchange (deposits, withdrawals).
CREATE TABLE ledger (
    seq     BIGINT   NOT NULL,
    leg     SMALLINT NOT NULL,
    user_id BIGINT   NOT NULL,
    asset   TEXT     NOT NULL,             -- 'USD' (cash) or a ticker
    amount  BIGINT   NOT NULL,
    kind    TEXT     NOT NULL CHECK (kind IN ('deposit', 'withdraw', 'trade')),
    PRIMARY KEY (seq, leg)
);

-- The ledger summed per user and asset, kept in the same transactions.
CREATE TABLE balances (
    user_id BIGINT NOT NULL,
    asset   TEXT   NOT NULL,
    amount  BIGINT NOT NULL,
    PRIMARY KEY (user_id, asset)
);
