-- A position's cost basis is the average cost of the user's own trades in the symbol
-- (services/order/src/holdings.rs), read on every positions request and every
-- portfolio reload. Without these, that read scanned every trade of the exchange
-- (215 ms a held symbol at 1,000,000 trades; PERF.md). Each side's trades by user and
-- symbol, in sequence.
CREATE INDEX trades_by_buyer ON trades (buyer, symbol, seq);
CREATE INDEX trades_by_seller ON trades (seller, symbol, seq);
