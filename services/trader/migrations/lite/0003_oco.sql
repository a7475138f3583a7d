-- One-cancels-other orders (see ../0006_oco.sql).
ALTER TABLE trader_orders ADD COLUMN order_class TEXT NOT NULL DEFAULT 'simple';
ALTER TABLE trader_orders ADD COLUMN oco_with TEXT;
