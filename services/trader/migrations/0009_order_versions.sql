-- A counter per user that every statement changing the user's rows here bumps, in the
-- transaction that changes them (the trader's writes, the auto service's, the
-- reconciler's). A cached page of `GET /v2/orders` is tagged with it and settlement's
-- `order_versions`: while neither has moved, no committed change can have touched the
-- rows the page was made from, so every instance of the service can answer from its
-- own cache and still show every other instance's writes. A trigger, so that no writer
-- can forget it. Users are locked in ascending order, so two statements never wait on
-- each other in a cycle.
CREATE TABLE trader_order_versions (
    user_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE FUNCTION bump_trader_order_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trader_order_versions AS v (user_id, version)
    SELECT DISTINCT user_id, 1 FROM changed ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER trader_orders_inserted AFTER INSERT ON trader_orders
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_trader_order_versions();
CREATE TRIGGER trader_orders_updated AFTER UPDATE ON trader_orders
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_trader_order_versions();
CREATE TRIGGER trader_orders_deleted AFTER DELETE ON trader_orders
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_trader_order_versions();
