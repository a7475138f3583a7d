-- A position's cost basis is read from the user's own trades in the symbol: found by
-- index, not by a scan of every trade (as migrations/0007_own_trades.sql).
CREATE INDEX trades_by_buyer ON trades (buyer, symbol, seq);
CREATE INDEX trades_by_seller ON trades (seller, symbol, seq);
