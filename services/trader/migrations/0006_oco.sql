-- One-cancels-other orders: two rows, each naming the other (`oco_with`). The
-- take-profit leg is a limit order in the engine; the stop-loss leg is held like any
-- stop. A fill of either cancels the other: the auto service cancels the held stop when
-- the limit trades, and cancels the limit in the engine before a triggered stop enters.
ALTER TABLE trader_orders
    ADD COLUMN order_class TEXT NOT NULL DEFAULT 'simple'
        CHECK (order_class IN ('simple', 'oco')),
    ADD COLUMN oco_with    TEXT;
