-- Bracket orders (see ../0007_bracket.sql); times are microseconds.
ALTER TABLE trader_orders ADD COLUMN parent_id TEXT;
ALTER TABLE trader_orders ADD COLUMN activated_at INTEGER;
CREATE INDEX trader_orders_waiting ON trader_orders (parent_id, status, activated_at);
CREATE INDEX trader_orders_activated ON trader_orders (activated_at);
