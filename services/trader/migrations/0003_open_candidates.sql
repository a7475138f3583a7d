-- Where the open orders of a user can be among this table's rows without settlement's
-- open index knowing them yet: verdicts newer than settlement's position, and rows
-- with no verdict yet (`known_seq` 0: in flight, or an outcome never heard).
CREATE INDEX trader_orders_by_verdict ON trader_orders (user_id, known_seq);
-- Settlement's rows are found by (user, token): the reverse lookup, from settlement's
-- open orders to this table's rows.
CREATE INDEX trader_orders_by_token ON trader_orders (user_id, token);
