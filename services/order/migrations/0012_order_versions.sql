-- A counter per user that moves, in the same transaction, whenever settlement writes
-- the user's orders of the trader service (client ids beginning 'H',
-- `bourse_order::token`): once per user a batch, users in ascending order
-- (`Plan::trader_users`). The trader service tags a cached page of `GET /v2/orders`
-- with it and its own `trader_order_versions`: while neither has moved, no committed
-- change can have touched the rows the page was made from. Settlement is the only
-- writer of `orders`, and keeps it as it keeps the fill values and the cost basis; a
-- statement trigger here (its transition tables) cost settlement ~8% on a stream of
-- the trader's orders, the explicit upsert nothing measurable.
CREATE TABLE order_versions (
    user_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
