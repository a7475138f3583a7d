-- The last trade of each symbol, kept by settlement in the transaction that settles it:
-- a holdings read values each position at it. It was read from `trades` by a backward
-- scan of the primary key down to the symbol's newest trade, which for a symbol not
-- traded lately is a scan of every trade since (123 ms behind 90,000 trades of other
-- symbols); now it is one row by primary key, joined to the balances it values.
CREATE TABLE last_trades (
    symbol TEXT   PRIMARY KEY,
    price  BIGINT NOT NULL,
    seq    BIGINT NOT NULL            -- the trade's event sequence number
);
INSERT INTO last_trades (symbol, price, seq)
SELECT DISTINCT ON (symbol) symbol, price, seq FROM trades ORDER BY symbol, seq DESC;
