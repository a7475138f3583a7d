-- The last trade of each symbol kept by settlement (as migrations/0010_last_trades.sql).
CREATE TABLE last_trades (
    symbol TEXT    PRIMARY KEY,
    price  INTEGER NOT NULL,
    seq    INTEGER NOT NULL
);
-- SQLite takes the bare column `price` from the row holding max(seq).
INSERT INTO last_trades (symbol, price, seq)
SELECT symbol, price, max(seq) FROM trades GROUP BY symbol;
