-- The fills of one order, for readers that show an order's average fill price (the
-- trader service's `filled_avg_price`): each trade found by either side's order.
CREATE INDEX trades_buy_order ON trades (buy_order_seq);
CREATE INDEX trades_sell_order ON trades (sell_order_seq);
