-- A replace makes a new order (its own id) in place of the old one, as Alpaca's
-- `PATCH /v2/orders/{id}` does; each names the other.
ALTER TABLE trader_orders ADD COLUMN replaces TEXT;
ALTER TABLE trader_orders ADD COLUMN replaced_by TEXT;
-- What the old order had filled, by value, when it was replaced: settlement counts the
-- new order's fills from there (its filled quantity carries over).
ALTER TABLE trader_orders ADD COLUMN carried_value BIGINT NOT NULL DEFAULT 0;
