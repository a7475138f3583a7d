-- What the order path's two writes cost PostgreSQL, with no client in the way: 20,000
-- single-row statements in a PL/pgSQL loop against `trader_orders` (the trader's
-- migrations, 100,000 rows already in it) — the verdict's update as the service makes
-- it (it changes indexed columns, so it is never a HOT update), the same rows updated in
-- non-indexed columns only with room on the pages (HOT), and the `pending_new` insert
-- with every index and with only the two the order path needs. Run from the repository
-- root, twice, and read the timings (PERF.md, "The verdict's write planned once"):
--
--     psql -h 127.0.0.1 -U postgres -d test -q -f benches/sql/verdict-costs.sql
--
-- It works in a schema of its own and drops it at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS verdict_costs CASCADE;
CREATE SCHEMA verdict_costs;
SET search_path = verdict_costs;
\i benches/sql/trader-tables.psql
SET search_path = verdict_costs;
ALTER TABLE trader_orders SET (fillfactor = 80);

CREATE PROCEDURE seed() LANGUAGE sql AS $$
    TRUNCATE trader_orders;
    INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                               time_in_force, qty, limit_price, status)
    SELECT gen_random_uuid()::text, 1 + g % 100, 'c' || g, 'T' || g, 'ACME', 'buy',
           'limit', 'day', 1, 1, 'pending_new'
    FROM generate_series(1, 100000) g;
$$;
CREATE PROCEDURE inserts() LANGUAGE plpgsql AS $$ BEGIN
    FOR i IN 1..20000 LOOP
        INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                                   time_in_force, qty, limit_price, status)
        VALUES (gen_random_uuid()::text, 1 + i % 100, 'n' || i, 'N' || i, 'ACME', 'buy',
                'limit', 'day', 1, 1, 'pending_new')
        ON CONFLICT (user_id, client_order_id) DO NOTHING;
    END LOOP;
END $$;

\echo the verdict update, indexed columns change so never HOT, 20,000 rows:
CALL seed();
VACUUM ANALYZE trader_orders;
CREATE TEMP TABLE ids AS SELECT id FROM trader_orders ORDER BY random() LIMIT 20000;
\timing on
DO $$ DECLARE r record; BEGIN FOR r IN SELECT id FROM ids LOOP
    UPDATE trader_orders SET status = 'canceled', filled_qty = 0, filled_value = 0,
        order_seq = 5, known_seq = 7, reject_reason = NULL, updated_at = clock_timestamp()
    WHERE id = r.id;
END LOOP; END $$;
\timing off

\echo the same rows, non-indexed columns only, HOT where the page has room:
CALL seed();
VACUUM ANALYZE trader_orders;
DROP TABLE ids;
CREATE TEMP TABLE ids AS SELECT id FROM trader_orders ORDER BY random() LIMIT 20000;
\o /dev/null
SELECT pg_stat_reset_single_table_counters('trader_orders'::regclass);
\o
\timing on
DO $$ DECLARE r record; BEGIN FOR r IN SELECT id FROM ids LOOP
    UPDATE trader_orders SET filled_qty = 0, filled_value = 0, order_seq = 5,
        reject_reason = NULL
    WHERE id = r.id;
END LOOP; END $$;
\timing off
\o /dev/null
SELECT pg_sleep(1);
\o
SELECT n_tup_upd AS updated, n_tup_hot_upd AS hot FROM pg_stat_user_tables
WHERE relid = 'trader_orders'::regclass;

\echo the pending_new insert, every index, 20,000 rows:
CALL seed();
VACUUM ANALYZE trader_orders;
\timing on
CALL inserts();
\timing off

\echo the same insert, the primary key and the user and client_order_id key only:
DROP INDEX trader_orders_by_user, trader_orders_by_verdict, trader_orders_by_token,
    trader_orders_held, trader_orders_conditional, trader_orders_unresolved,
    trader_orders_waiting, trader_orders_activated;
CALL seed();
VACUUM ANALYZE trader_orders;
\timing on
CALL inserts();
\timing off

RESET search_path;
DROP SCHEMA verdict_costs CASCADE;
