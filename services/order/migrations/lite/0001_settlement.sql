-- The embedded store's settlement tables: the SQLite twin of ../0001_settlement.sql
-- and the migrations after it (same tables, columns and meanings).
CREATE TABLE settlement_position (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL              -- microseconds since the Unix epoch
);
INSERT INTO settlement_position (id, seq, events, updated_at) VALUES (1, 0, 0, 0);

CREATE TABLE users (
    user_id     INTEGER PRIMARY KEY,
    created_seq INTEGER NOT NULL
);

CREATE TABLE orders (
    order_seq   INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    client_id   TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    side        TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price       INTEGER,
    qty         INTEGER NOT NULL,
    filled      INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL CHECK (status IN ('open', 'filled', 'canceled', 'replaced')),
    reason      TEXT,
    updated_seq INTEGER NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, client_id);
CREATE INDEX orders_open_by_user ON orders (user_id, client_id) WHERE status = 'open';

CREATE TABLE order_history (
    seq       INTEGER NOT NULL,
    order_seq INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    filled    INTEGER NOT NULL,
    reason    TEXT,
    PRIMARY KEY (seq, order_seq)
);

CREATE TABLE trades (
    seq            INTEGER PRIMARY KEY,
    cmd_seq        INTEGER NOT NULL,
    symbol         TEXT    NOT NULL,
    price          INTEGER NOT NULL,
    qty            INTEGER NOT NULL,
    buyer          INTEGER NOT NULL,
    seller         INTEGER NOT NULL,
    buy_order_seq  INTEGER,
    sell_order_seq INTEGER,
    taker_side     TEXT    NOT NULL
);
CREATE INDEX trades_buy_order ON trades (buy_order_seq);
CREATE INDEX trades_sell_order ON trades (sell_order_seq);

CREATE TABLE ledger (
    seq     INTEGER NOT NULL,
    leg     INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    asset   TEXT    NOT NULL,
    amount  INTEGER NOT NULL,
    kind    TEXT    NOT NULL CHECK (kind IN ('deposit', 'withdraw', 'trade')),
    PRIMARY KEY (seq, leg)
);

CREATE TABLE balances (
    user_id INTEGER NOT NULL,
    asset   TEXT    NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (user_id, asset)
);
