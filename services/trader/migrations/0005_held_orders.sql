-- Conditional orders (stop, stop-limit, trailing stop): entered here as `held`, and
-- held until the auto service (services/auto) sees a trade that triggers them; it then
-- turns the row into an order in flight (`pending_new`, entered into the engine under
-- the row's token as a market or limit order) with one compare-and-set on the status,
-- so each fires at most once.
ALTER TABLE trader_orders DROP CONSTRAINT trader_orders_type_check;
ALTER TABLE trader_orders ADD CONSTRAINT trader_orders_type_check
    CHECK (type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop'));
ALTER TABLE trader_orders
    ADD COLUMN stop_price   BIGINT,       -- cents: stop and stop_limit
    ADD COLUMN trail_price  BIGINT,       -- cents: a trailing stop by amount
    ADD COLUMN trail_ppm    BIGINT,       -- parts per million of the mark: by percent
    ADD COLUMN hwm          BIGINT,       -- a trailing stop's mark (best price since armed)
    ADD COLUMN triggered_at TIMESTAMPTZ;  -- when the auto service fired it
-- The auto service loads the held rows (all of them when it starts, the new ones as
-- they come) and learns which left `held` without it (canceled) by their change time.
CREATE INDEX trader_orders_held ON trader_orders (created_at) WHERE status = 'held';
CREATE INDEX trader_orders_conditional ON trader_orders (updated_at)
    WHERE type IN ('stop', 'stop_limit', 'trailing_stop');
-- A triggered order is in flight from the moment it fired, not from its entry: the
-- reconciler's grace runs from `updated_at` (equal to `created_at` for other rows).
DROP INDEX trader_orders_unresolved;
CREATE INDEX trader_orders_unresolved ON trader_orders (updated_at)
    WHERE status = 'pending_new' AND known_seq = 0;
