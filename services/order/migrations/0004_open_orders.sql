-- The open orders of one user, found without walking their history (the trader
-- service's `GET /v2/orders`, whose default is the open ones).
CREATE INDEX orders_open_by_user ON orders (user_id, client_id) WHERE status = 'open';
