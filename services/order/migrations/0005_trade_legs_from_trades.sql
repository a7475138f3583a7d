-- A trade's four ledger legs follow from its row (buyer pays the notional in USD to the
-- seller, the seller delivers the shares to the buyer), so they are no longer written:
-- four rows fewer per fill. The table keeps the legs that do not follow from another
-- row (deposits and withdrawals), and `ledger` is now a view with the same columns and
-- rows as before: the stored legs, and each trade's legs in the order settlement wrote
-- them (0: buyer's cash out, 1: seller's cash in, 2: seller's shares out, 3: buyer's
-- shares in).
ALTER TABLE ledger RENAME TO ledger_transfers;
DELETE FROM ledger_transfers WHERE kind = 'trade';
CREATE VIEW ledger AS
    SELECT seq, leg, user_id, asset, amount, kind FROM ledger_transfers
    UNION ALL
    SELECT t.seq, l.leg, l.user_id, l.asset, l.amount, 'trade'
    FROM trades t
    CROSS JOIN LATERAL (VALUES
        (0::smallint, t.buyer, 'USD'::text, -(t.price * t.qty)),
        (1::smallint, t.seller, 'USD'::text, t.price * t.qty),
        (2::smallint, t.seller, t.symbol, -t.qty),
        (3::smallint, t.buyer, t.symbol, t.qty)
    ) AS l (leg, user_id, asset, amount);
