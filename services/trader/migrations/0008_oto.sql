-- One-triggers-other orders: an entry and one exit (a take-profit limit or a stop-loss)
-- that waits, `held`, until the entry fills, as a bracket's two exits do (`parent_id`
-- names the entry; the exit has no `oco_with`).
ALTER TABLE trader_orders DROP CONSTRAINT trader_orders_order_class_check;
ALTER TABLE trader_orders ADD CONSTRAINT trader_orders_order_class_check
    CHECK (order_class IN ('simple', 'oco', 'bracket', 'oto'));
