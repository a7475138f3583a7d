-- An order's history follows from its row and its trades, so it is no longer written
-- (a fill-heavy batch wrote four history rows a fill; PERF.md): `order_history` becomes a
-- view with the same columns and rows as the table it replaces.
--   * opened: one row per order at the event that opened it (accepted, or the new order
--     of a replace), with what was filled then: `orders.opened_filled` (0, or the filled
--     quantity the replaced order carried over);
--   * filled: one row per trade and side whose order is known, with the cumulative
--     filled quantity and `filled` once the trade left nothing (`trades.buy_leaves`,
--     `trades.sell_leaves`, the engine's leaves after the trade);
--   * closed otherwise: one row for a canceled or replaced order, at its last change.
ALTER TABLE orders ADD COLUMN opened_filled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN buy_leaves BIGINT, ADD COLUMN sell_leaves BIGINT;

UPDATE orders o SET opened_filled = h.filled
FROM order_history h
WHERE h.seq = o.order_seq AND h.order_seq = o.order_seq AND h.filled <> 0;
-- Leaves = the order's total quantity minus what it had filled after the trade.
UPDATE trades t SET buy_leaves = o.qty - h.filled
FROM order_history h JOIN orders o ON o.order_seq = h.order_seq
WHERE h.seq = t.seq AND h.order_seq = t.buy_order_seq;
UPDATE trades t SET sell_leaves = o.qty - h.filled
FROM order_history h JOIN orders o ON o.order_seq = h.order_seq
WHERE h.seq = t.seq AND h.order_seq = t.sell_order_seq;

ALTER TABLE order_history RENAME TO order_history_stored;
CREATE VIEW order_history AS
    SELECT order_seq AS seq, order_seq, 'open'::text AS status, opened_filled AS filled,
           NULL::text AS reason
    FROM orders
    UNION ALL
    SELECT f.seq, f.order_seq, CASE WHEN f.leaves = 0 THEN 'filled' ELSE 'open' END,
           (o.opened_filled + sum(f.qty) OVER (PARTITION BY f.order_seq ORDER BY f.seq))::bigint,
           NULL
    FROM (SELECT seq, buy_order_seq AS order_seq, qty, buy_leaves AS leaves FROM trades
          WHERE buy_order_seq IS NOT NULL
          UNION ALL
          SELECT seq, sell_order_seq, qty, sell_leaves FROM trades
          WHERE sell_order_seq IS NOT NULL) f
    JOIN orders o ON o.order_seq = f.order_seq
    UNION ALL
    SELECT updated_seq, order_seq, status, filled, reason FROM orders
    WHERE status IN ('canceled', 'replaced');

-- The view must give exactly the rows the table held, or nothing changes.
DO $$
BEGIN
    IF EXISTS (SELECT * FROM order_history_stored EXCEPT ALL SELECT * FROM order_history)
       OR EXISTS (SELECT * FROM order_history EXCEPT ALL SELECT * FROM order_history_stored)
    THEN
        RAISE EXCEPTION 'order_history: the derived rows differ from the stored ones';
    END IF;
END $$;
DROP TABLE order_history_stored;
