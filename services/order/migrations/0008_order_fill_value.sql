-- The value of an order's fills (price × quantity of each of its trades, in cents),
-- kept on its row by settlement as it settles them. A reader of orders (the trader
-- service's `filled_avg_price`) then needs no trades, and the two indexes that found an
-- order's trades for it go: two index entries fewer a trade. What a replaced order had
-- filled stays on its row (as its fills do): the new order's value counts its own.
-- The `order_history` view still derives an order's history from its trades; it is an
-- audit view, and reading one order's history now scans the trades.
ALTER TABLE orders ADD COLUMN filled_value BIGINT NOT NULL DEFAULT 0;
UPDATE orders o SET filled_value = f.value
FROM (SELECT order_seq, sum(price * qty)::BIGINT AS value
      FROM (SELECT buy_order_seq AS order_seq, price, qty FROM trades
            WHERE buy_order_seq IS NOT NULL
            UNION ALL
            SELECT sell_order_seq, price, qty FROM trades
            WHERE sell_order_seq IS NOT NULL) x
      GROUP BY order_seq) f
WHERE o.order_seq = f.order_seq;
DROP INDEX trades_buy_order;
DROP INDEX trades_sell_order;
