-- The embedded store's stock tables: the SQLite twin of ../0001_market.sql.
CREATE TABLE instruments (
    symbol     TEXT    PRIMARY KEY,
    tick       INTEGER NOT NULL,
    lot        INTEGER NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    listed_seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT 0    -- microseconds since the Unix epoch
);

CREATE TABLE market_trades (
    seq        INTEGER PRIMARY KEY,
    symbol     TEXT    NOT NULL,
    price      INTEGER NOT NULL,
    qty        INTEGER NOT NULL,
    taker_side TEXT    NOT NULL,
    time_ns    INTEGER NOT NULL
);
CREATE INDEX market_trades_by_symbol ON market_trades (symbol, seq);

-- `notional` (the sum of price × qty, for the VWAP only) is an integer while it fits
-- in 64 bits; SQLite carries a larger sum on as a float.
CREATE TABLE bars (
    symbol    TEXT    NOT NULL,
    timeframe TEXT    NOT NULL CHECK (timeframe IN ('1Min', '5Min', '1Hour', '1Day')),
    start_ns  INTEGER NOT NULL,
    open      INTEGER NOT NULL,
    high      INTEGER NOT NULL,
    low       INTEGER NOT NULL,
    close     INTEGER NOT NULL,
    volume    INTEGER NOT NULL,
    trades    INTEGER NOT NULL,
    notional  NUMERIC NOT NULL,
    open_seq  INTEGER NOT NULL,
    close_seq INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, start_ns)
);
