-- A position's cost basis kept on its balance row. It was worked out on every read
-- from the user's own trades in the symbol (the average-cost walk of
-- `holdings::average_cost`), found through two indexes on `trades` (migration 0007);
-- settlement now steps the walk with each trade it settles and writes where it stands:
-- `traded`, the shares bought and not sold since, and `cost`, what they cost (cents).
-- A read is one row a symbol, and each trade writes two index entries fewer.
ALTER TABLE balances
    ADD COLUMN traded BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cost   BIGINT NOT NULL DEFAULT 0;

-- The walk over the trades settled so far, in sequence (within a trade, the seller's
-- side before the buyer's, as its ledger legs): a buy adds its shares and price ×
-- quantity; a sell takes away no more shares than the walk holds, and their share of
-- the cost, rounded toward zero.
CREATE FUNCTION settlement_cost_step(s BIGINT[], price BIGINT, qty BIGINT, bought BOOLEAN)
RETURNS BIGINT[] LANGUAGE SQL IMMUTABLE AS $$
    SELECT CASE
        WHEN bought THEN ARRAY[s[1] + qty, s[2] + price * qty]
        WHEN s[1] > 0 THEN ARRAY[s[1] - LEAST(qty, s[1]),
                                 s[2] - div(s[2]::NUMERIC * LEAST(qty, s[1]), s[1])::BIGINT]
        ELSE s
    END
$$;
CREATE AGGREGATE settlement_cost(BIGINT, BIGINT, BOOLEAN) (
    SFUNC = settlement_cost_step, STYPE = BIGINT[], INITCOND = '{0,0}'
);
UPDATE balances b SET traded = w.s[1], cost = w.s[2]
FROM (SELECT user_id, symbol, settlement_cost(price, qty, bought ORDER BY seq, bought) AS s
      FROM (SELECT buyer AS user_id, symbol, seq, price, qty, TRUE AS bought FROM trades
            UNION ALL
            SELECT seller, symbol, seq, price, qty, FALSE FROM trades) legs
      GROUP BY user_id, symbol) w
WHERE b.user_id = w.user_id AND b.asset = w.symbol;
DROP AGGREGATE settlement_cost(BIGINT, BIGINT, BOOLEAN);
DROP FUNCTION settlement_cost_step(BIGINT[], BIGINT, BIGINT, BOOLEAN);

DROP INDEX trades_by_buyer;
DROP INDEX trades_by_seller;
