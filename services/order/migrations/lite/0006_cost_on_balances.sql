-- A position's cost basis kept on its balance row (as migrations/0009_cost_on_balances.sql):
-- the average-cost walk over each user's trades in each symbol, worked out once here
-- for the trades settled so far (a recursive walk over the legs, numbered per holding),
-- then stepped by settlement with each trade.
ALTER TABLE balances ADD COLUMN traded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE balances ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;

CREATE TEMP TABLE cost_legs (
    user_id INTEGER, symbol TEXT, n INTEGER, price INTEGER, qty INTEGER, bought INTEGER,
    PRIMARY KEY (user_id, symbol, n)
);
INSERT INTO cost_legs
SELECT user_id, symbol, row_number() OVER (PARTITION BY user_id, symbol ORDER BY seq, bought),
       price, qty, bought
FROM (SELECT buyer AS user_id, symbol, seq, price, qty, 1 AS bought FROM trades
      UNION ALL
      SELECT seller, symbol, seq, price, qty, 0 FROM trades);
CREATE TEMP TABLE cost_walk AS
WITH RECURSIVE walk (user_id, symbol, n, held, cost) AS (
    SELECT user_id, symbol, 0, 0, 0 FROM cost_legs WHERE n = 1
    UNION ALL
    SELECT w.user_id, w.symbol, l.n,
           CASE WHEN l.bought THEN w.held + l.qty
                WHEN w.held > 0 THEN w.held - min(l.qty, w.held)
                ELSE w.held END,
           CASE WHEN l.bought THEN w.cost + l.price * l.qty
                WHEN w.held > 0 THEN w.cost - (w.cost * min(l.qty, w.held)) / w.held
                ELSE w.cost END
    FROM walk w
    JOIN cost_legs l ON l.user_id = w.user_id AND l.symbol = w.symbol AND l.n = w.n + 1
)
SELECT user_id, symbol, held, cost, max(n) AS n FROM walk GROUP BY user_id, symbol;
UPDATE balances SET
    traded = (SELECT held FROM cost_walk w
              WHERE w.user_id = balances.user_id AND w.symbol = balances.asset),
    cost = (SELECT cost FROM cost_walk w
            WHERE w.user_id = balances.user_id AND w.symbol = balances.asset)
WHERE EXISTS (SELECT 1 FROM cost_walk w
              WHERE w.user_id = balances.user_id AND w.symbol = balances.asset);
DROP TABLE cost_walk;
DROP TABLE cost_legs;

DROP INDEX trades_by_buyer;
DROP INDEX trades_by_seller;
