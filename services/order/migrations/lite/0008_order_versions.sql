-- A counter per user that moves, in the same transaction, whenever settlement writes
-- the user's orders of the trader service (see ../0012_order_versions.sql): once per
-- user a batch, by settlement's store (`store::lite`), the only writer of `orders`.
-- (Row triggers, SQLite's only kind, cost settlement ~15% here.)
CREATE TABLE order_versions (
    user_id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
