-- A counter per user that every change to the user's rows bumps, in the changing
-- transaction (see ../0009_order_versions.sql; SQLite's triggers are per row).
CREATE TABLE trader_order_versions (
    user_id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TRIGGER trader_orders_inserted AFTER INSERT ON trader_orders BEGIN
    INSERT INTO trader_order_versions (user_id, version) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER trader_orders_updated AFTER UPDATE ON trader_orders BEGIN
    INSERT INTO trader_order_versions (user_id, version) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER trader_orders_deleted AFTER DELETE ON trader_orders BEGIN
    INSERT INTO trader_order_versions (user_id, version) VALUES (OLD.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
