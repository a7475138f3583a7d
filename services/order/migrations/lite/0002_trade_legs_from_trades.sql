-- A trade's four ledger legs follow from its row, so they are no longer written (see
-- the PostgreSQL migration 0005): the table keeps deposits and withdrawals, and
-- `ledger` is a view with the same columns and rows as before.
ALTER TABLE ledger RENAME TO ledger_transfers;
DELETE FROM ledger_transfers WHERE kind = 'trade';
CREATE VIEW ledger AS
    SELECT seq, leg, user_id, asset, amount, kind FROM ledger_transfers
    UNION ALL SELECT seq, 0, buyer, 'USD', -(price * qty), 'trade' FROM trades
    UNION ALL SELECT seq, 1, seller, 'USD', price * qty, 'trade' FROM trades
    UNION ALL SELECT seq, 2, seller, symbol, -qty, 'trade' FROM trades
    UNION ALL SELECT seq, 3, buyer, symbol, qty, 'trade' FROM trades;
