-- What each of settlement's indexes costs PostgreSQL, with no client in the way: the
-- rows of 60,000 fills of pipeline-bench's fill-heavy stream (120,000 orders, 60,000
-- trades, settlement's columns) inserted by INSERT ... SELECT in one transaction, into
-- tables with no index, with each index alone, and with all of them (the client ids are
-- the gateway's, as a market maker's orders are: not the trader's tokens). Run it twice and
-- read the second (PERF.md, "Settlement at the database's floor"):
--
--     psql -h 127.0.0.1 -U postgres -d test -q -f benches/sql/settlement-indexes.sql
--
-- It works in a schema of its own and drops it at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS settlement_indexes CASCADE;
CREATE SCHEMA settlement_indexes;
SET search_path = settlement_indexes;
CREATE TABLE src_o AS
    SELECT s AS order_seq, 1 + s % 100 AS user_id, 'h' || s AS client_id,
           'HEAVY'::text AS symbol, CASE WHEN s % 2 = 0 THEN 'sell' ELSE 'buy' END AS side,
           10000::bigint AS price, 10::bigint AS qty, 10::bigint AS filled,
           0::bigint AS opened_filled, 'filled'::text AS status, NULL::text AS reason,
           s AS updated_seq
    FROM generate_series(1::bigint, 120000) s;
CREATE TABLE src_t AS
    SELECT s AS seq, s AS cmd_seq, 'HEAVY'::text AS symbol, 10000::bigint AS price,
           10::bigint AS qty, 1 + s % 100 AS buyer, 51 + s % 100 AS seller,
           2 * s AS buy_order_seq, 2 * s + 1 AS sell_order_seq, 0::bigint AS buy_leaves,
           0::bigint AS sell_leaves, 'buy'::text AS taker_side
    FROM generate_series(1::bigint, 60000) s;

-- Fresh tables o (orders) and t (trades) with `indexes` made on them, then the rows:
-- milliseconds for each table's insert.
CREATE FUNCTION timed(indexes text, OUT orders_ms numeric, OUT trades_ms numeric) AS $$
DECLARE
    start timestamptz;
BEGIN
    DROP TABLE IF EXISTS o, t;
    CREATE TABLE o (LIKE src_o);
    CREATE TABLE t (LIKE src_t);
    EXECUTE indexes;
    start := clock_timestamp();
    INSERT INTO o SELECT * FROM src_o;
    orders_ms := round(extract(epoch FROM clock_timestamp() - start) * 1000);
    start := clock_timestamp();
    INSERT INTO t SELECT * FROM src_t;
    trades_ms := round(extract(epoch FROM clock_timestamp() - start) * 1000);
END $$ LANGUAGE plpgsql;

SELECT v.tables_have, r.orders_ms, r.trades_ms
FROM (VALUES
    (1, 'no index', 'SELECT 1'),
    (2, 'orders: primary key', 'ALTER TABLE o ADD PRIMARY KEY (order_seq)'),
    (3, 'orders: (user_id, client_id)', 'CREATE INDEX ON o (user_id, client_id)'),
    (4, 'orders: open by user (partial)',
        'CREATE INDEX ON o (user_id, client_id) WHERE status = ''open'''),
    (5, 'trades: primary key', 'ALTER TABLE t ADD PRIMARY KEY (seq)'),
    (6, 'trades: by buy order and by sell order',
        'CREATE INDEX ON t (buy_order_seq); CREATE INDEX ON t (sell_order_seq)'),
    (7, 'orders: by token (partial: the trader''s; these ids are the gateway''s)',
        'CREATE INDEX ON o (user_id, client_id) WHERE client_id LIKE ''H%'''),
    (8, 'all of the indexes settlement keeps (migration 0011 on)',
        'ALTER TABLE o ADD PRIMARY KEY (order_seq);
         CREATE INDEX ON o (user_id, client_id) WHERE client_id LIKE ''H%'';
         CREATE INDEX ON o (user_id, client_id) WHERE status = ''open'';
         ALTER TABLE t ADD PRIMARY KEY (seq)'),
    (9, 'the indexes settlement kept before migration 0008',
        'ALTER TABLE o ADD PRIMARY KEY (order_seq);
         CREATE INDEX ON o (user_id, client_id);
         CREATE INDEX ON o (user_id, client_id) WHERE status = ''open'';
         ALTER TABLE t ADD PRIMARY KEY (seq);
         CREATE INDEX ON t (buy_order_seq);
         CREATE INDEX ON t (sell_order_seq)')
) AS v (n, tables_have, indexes)
CROSS JOIN LATERAL timed(v.indexes) AS r
ORDER BY v.n;

DROP SCHEMA settlement_indexes CASCADE;
