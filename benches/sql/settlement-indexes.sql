-- What each of settlement's indexes costs PostgreSQL, with no client in the way: the
-- rows of 60,000 fills of pipeline-bench's fill-heavy stream (120,000 orders, 60,000
-- trades, settlement's columns) inserted by INSERT ... SELECT in one transaction, into
-- tables with no index, with each index alone, and with all of them. Run it twice and
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

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);

CHECKPOINT;
\echo 'heap only (no index)'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
ALTER TABLE o ADD PRIMARY KEY (order_seq);
CHECKPOINT;
\echo '+ orders primary key'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
CREATE INDEX ON o (user_id, client_id);
CHECKPOINT;
\echo '+ orders (user_id, client_id)'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
CREATE INDEX ON o (user_id, client_id) WHERE status = 'open';
CHECKPOINT;
\echo '+ orders open by user (partial)'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
ALTER TABLE t ADD PRIMARY KEY (seq);
CHECKPOINT;
\echo '+ trades primary key'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
CREATE INDEX ON t (buy_order_seq); CREATE INDEX ON t (sell_order_seq);
CHECKPOINT;
\echo '+ trades by buy order and by sell order'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP TABLE IF EXISTS o, t;
CREATE TABLE o (LIKE src_o);
CREATE TABLE t (LIKE src_t);
ALTER TABLE o ADD PRIMARY KEY (order_seq); CREATE INDEX ON o (user_id, client_id); CREATE INDEX ON o (user_id, client_id) WHERE status = 'open'; ALTER TABLE t ADD PRIMARY KEY (seq); CREATE INDEX ON t (buy_order_seq); CREATE INDEX ON t (sell_order_seq);
CHECKPOINT;
\echo 'all of the indexes settlement keeps'
\timing on
BEGIN;
INSERT INTO o SELECT * FROM src_o;
INSERT INTO t SELECT * FROM src_t;
COMMIT;
\timing off

DROP SCHEMA settlement_indexes CASCADE;
