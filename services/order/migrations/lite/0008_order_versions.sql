-- A counter per user that every change to the user's orders of the trader service
-- bumps, in the changing transaction (see ../0012_order_versions.sql; SQLite's
-- triggers are per row).
CREATE TABLE order_versions (
    user_id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TRIGGER orders_inserted AFTER INSERT ON orders WHEN NEW.client_id LIKE 'H%' BEGIN
    INSERT INTO order_versions (user_id, version) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER orders_updated AFTER UPDATE ON orders WHEN NEW.client_id LIKE 'H%' BEGIN
    INSERT INTO order_versions (user_id, version) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER orders_deleted AFTER DELETE ON orders WHEN OLD.client_id LIKE 'H%' BEGIN
    INSERT INTO order_versions (user_id, version) VALUES (OLD.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
