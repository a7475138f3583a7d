-- An order's history follows from its row and its trades, so it is no longer written
-- (see the PostgreSQL migration 0006): `order_history` becomes a view with the same
-- columns and rows as the table it replaces.
ALTER TABLE orders ADD COLUMN opened_filled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN buy_leaves INTEGER;
ALTER TABLE trades ADD COLUMN sell_leaves INTEGER;

UPDATE orders SET opened_filled = (
    SELECT h.filled FROM order_history h
    WHERE h.seq = orders.order_seq AND h.order_seq = orders.order_seq)
WHERE EXISTS (SELECT 1 FROM order_history h
              WHERE h.seq = orders.order_seq AND h.order_seq = orders.order_seq);
UPDATE trades SET
    buy_leaves = (SELECT o.qty - h.filled FROM order_history h
                  JOIN orders o ON o.order_seq = h.order_seq
                  WHERE h.seq = trades.seq AND h.order_seq = trades.buy_order_seq),
    sell_leaves = (SELECT o.qty - h.filled FROM order_history h
                   JOIN orders o ON o.order_seq = h.order_seq
                   WHERE h.seq = trades.seq AND h.order_seq = trades.sell_order_seq);

ALTER TABLE order_history RENAME TO order_history_stored;
CREATE VIEW order_history AS
    SELECT order_seq AS seq, order_seq, 'open' AS status, opened_filled AS filled,
           NULL AS reason
    FROM orders
    UNION ALL
    SELECT f.seq, f.order_seq, CASE WHEN f.leaves = 0 THEN 'filled' ELSE 'open' END,
           o.opened_filled + sum(f.qty) OVER (PARTITION BY f.order_seq ORDER BY f.seq),
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

-- The view must give exactly the rows the table held: a difference fails this
-- CHECK, and with it the migration.
CREATE TEMP TABLE order_history_check (differing INTEGER CHECK (differing = 0));
INSERT INTO order_history_check SELECT count(*) FROM (
    SELECT * FROM (SELECT * FROM order_history_stored EXCEPT SELECT * FROM order_history)
    UNION ALL
    SELECT * FROM (SELECT * FROM order_history EXCEPT SELECT * FROM order_history_stored));
DROP TABLE order_history_check;
DROP TABLE order_history_stored;
