-- The value of an order's fills kept on its row by settlement, and the indexes that
-- found an order's trades for readers dropped (as migrations/0008_order_fill_value.sql).
ALTER TABLE orders ADD COLUMN filled_value INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET filled_value = COALESCE(
    (SELECT sum(price * qty) FROM trades
     WHERE buy_order_seq = orders.order_seq OR sell_order_seq = orders.order_seq), 0);
DROP INDEX trades_buy_order;
DROP INDEX trades_sell_order;
