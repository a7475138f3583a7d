-- What the order-version triggers (trader migration 0009) cost the writes that fire
-- them, with no client in the way, each timing taken with the triggers disabled and
-- enabled, alternated twice: the trader's order path, 20,000 single-row `pending_new`
-- inserts and 20,000 single-row verdict updates into `trader_orders` (100,000 rows
-- already in it). (Settlement's `orders` has no trigger: settlement moves
-- `order_versions` itself, once per user a batch — pipeline-bench measures that.)
-- Run from the repository root (PERF.md, "Cached order pages"):
--
--     psql -h 127.0.0.1 -U postgres -d test -q -f benches/sql/order-versions.sql
--
-- It works in a schema of its own and drops it at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS order_versions_cost CASCADE;
CREATE SCHEMA order_versions_cost;
SET search_path = order_versions_cost;
\i benches/sql/trader-tables.psql
\i services/trader/migrations/0009_order_versions.sql
SET search_path = order_versions_cost;

CREATE PROCEDURE seed() LANGUAGE sql AS $$
    TRUNCATE trader_orders, trader_order_versions;
    INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                               time_in_force, qty, limit_price, status)
    SELECT 's' || g, 1 + g % 100, 'c' || g, 'T' || g, 'ACME', 'buy',
           'limit', 'day', 1, 1, 'pending_new'
    FROM generate_series(1, 100000) g;
$$;

-- Milliseconds for each write, with the triggers on `trader_orders` `enabled` or not; every
-- statement its own transaction (a counter row updated many times in one transaction
-- costs more than in many), committed without waiting for the WAL flush.
CREATE PROCEDURE timed(enabled boolean) AS $$
DECLARE
    start timestamptz;
    ms numeric[] := '{}';
BEGIN
    IF enabled THEN
        ALTER TABLE trader_orders ENABLE TRIGGER USER;
    ELSE
        ALTER TABLE trader_orders DISABLE TRIGGER USER;
    END IF;
    COMMIT;
    start := clock_timestamp();
    FOR i IN 1..20000 LOOP
        INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                                   time_in_force, qty, limit_price, status)
        VALUES ('n' || i, 1 + i % 100, 'n' || i, 'N' || i, 'ACME', 'buy',
                'limit', 'day', 1, 1, 'pending_new')
        ON CONFLICT (user_id, client_order_id) DO NOTHING;
        COMMIT;
    END LOOP;
    ms := ms || round(extract(epoch FROM clock_timestamp() - start) * 1000);
    start := clock_timestamp();
    FOR i IN 1..20000 LOOP
        UPDATE trader_orders SET status = 'new', known_seq = i, order_seq = i,
            updated_at = clock_timestamp()
        WHERE id = 'n' || i;
        COMMIT;
    END LOOP;
    ms := ms || round(extract(epoch FROM clock_timestamp() - start) * 1000);
    RAISE WARNING 'triggers %: trader inserts % ms, verdicts % ms',
        CASE WHEN enabled THEN 'on ' ELSE 'off' END, ms[1], ms[2];
END $$ LANGUAGE plpgsql;

SET synchronous_commit = off;
\echo triggers off, on, off, on:
CALL seed(); VACUUM ANALYZE trader_orders;
CALL timed(false);
CALL seed(); VACUUM ANALYZE trader_orders;
CALL timed(true);
CALL seed(); VACUUM ANALYZE trader_orders;
CALL timed(false);
CALL seed(); VACUUM ANALYZE trader_orders;
CALL timed(true);

RESET search_path;
DROP SCHEMA order_versions_cost CASCADE;
