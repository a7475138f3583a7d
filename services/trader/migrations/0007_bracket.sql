-- Bracket orders: an entry order and two exit legs (a take-profit limit and a stop-loss)
-- that wait, `held`, until the entry fills (`parent_id` names the entry). The auto
-- service activates them once settlement has the entry filled — the take-profit goes
-- into the book, the stop-loss is armed, and from then on they are a one-cancels-other
-- pair — or cancels them if the entry ended without filling.
ALTER TABLE trader_orders DROP CONSTRAINT trader_orders_order_class_check;
ALTER TABLE trader_orders ADD CONSTRAINT trader_orders_order_class_check
    CHECK (order_class IN ('simple', 'oco', 'bracket'));
ALTER TABLE trader_orders
    ADD COLUMN parent_id    TEXT,
    ADD COLUMN activated_at TIMESTAMPTZ;
CREATE INDEX trader_orders_waiting ON trader_orders (parent_id)
    WHERE parent_id IS NOT NULL AND activated_at IS NULL AND status = 'held';
-- The auto service arms a stop-loss leg from its activation on, as it arms other held
-- orders from their entry.
CREATE INDEX trader_orders_activated ON trader_orders (activated_at)
    WHERE status = 'held' AND activated_at IS NOT NULL;
