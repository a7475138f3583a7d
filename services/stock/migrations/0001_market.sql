-- The stock service: instruments and the market data built from the engine's events.

-- Instruments, as the engine listed them (`add_instrument` events), with what the
-- exchange's operators say about them.
CREATE TABLE instruments (
    symbol     TEXT PRIMARY KEY,
    tick       BIGINT NOT NULL,            -- price increment, cents
    lot        BIGINT NOT NULL,            -- quantity increment, shares
    name       TEXT   NOT NULL DEFAULT '',
    status     TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    listed_seq BIGINT NOT NULL,            -- the engine event that listed it
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every trade, once (the engine event sequence number is also the execution id).
CREATE TABLE market_trades (
    seq        BIGINT PRIMARY KEY,
    symbol     TEXT   NOT NULL,
    price      BIGINT NOT NULL,
    qty        BIGINT NOT NULL,
    taker_side TEXT   NOT NULL,
    time_ns    BIGINT NOT NULL             -- the journal's time of the trade's command
);
CREATE INDEX market_trades_by_symbol ON market_trades (symbol, seq);

-- OHLCV bars, kept as trades arrive. `open_seq`/`close_seq` are the trades that set
-- open and close, so that a trade delivered late (at-least-once) lands where it belongs.
CREATE TABLE bars (
    symbol    TEXT    NOT NULL,
    timeframe TEXT    NOT NULL CHECK (timeframe IN ('1Min', '5Min', '1Hour', '1Day')),
    start_ns  BIGINT  NOT NULL,
    open      BIGINT  NOT NULL,
    high      BIGINT  NOT NULL,
    low       BIGINT  NOT NULL,
    close     BIGINT  NOT NULL,
    volume    BIGINT  NOT NULL,
    trades    BIGINT  NOT NULL,
    notional  NUMERIC NOT NULL,            -- sum of price * qty, for the VWAP
    open_seq  BIGINT  NOT NULL,
    close_seq BIGINT  NOT NULL,
    PRIMARY KEY (symbol, timeframe, start_ns)
);
