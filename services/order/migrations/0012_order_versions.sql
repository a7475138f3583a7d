-- A counter per user that every statement changing the user's orders of the trader
-- service (client ids beginning 'H', `bourse_order::token`) bumps, in the transaction
-- that changes them. The trader service tags a cached page of `GET /v2/orders` with it
-- (and with its own `trader_order_versions`): while neither counter has moved, no
-- committed change can have touched the rows the page was made from. A trigger, so
-- that every writer of `orders` bumps it, not only settlement's code. Users are locked
-- in ascending order, so two statements never wait on each other in a cycle.
CREATE TABLE order_versions (
    user_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE FUNCTION bump_order_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_versions AS v (user_id, version)
    SELECT DISTINCT user_id, 1 FROM changed WHERE client_id LIKE 'H%' ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_order_versions();
CREATE TRIGGER orders_updated AFTER UPDATE ON orders
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_order_versions();
CREATE TRIGGER orders_deleted AFTER DELETE ON orders
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_order_versions();
