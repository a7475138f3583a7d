#!/bin/sh
# What the verdict's transaction wrapper costs PostgreSQL: one pipelined round trip of
# BEGIN, five SET LOCALs, the single-row update and COMMIT (as the trader sends it),
# against the update alone in autocommit (what a pool of connections with those
# settings for the session would send). pgbench, one client, prepared statements,
# alternated three times on a 100,000-row table (PERF.md, "The verdict's write planned
# once"). The session commits asynchronously, as the verdict does. Needs pgbench
# (postgresql-client) and the test database.
#
#     sh benches/sql/verdict-begin.sh
set -e
HOST="-h 127.0.0.1 -U postgres"
export PGOPTIONS="-c client_min_messages=warning -c synchronous_commit=off"
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql $HOST -d test -qc "DROP TABLE IF EXISTS verdict_begin"' EXIT
psql $HOST -d test -q -c "DROP TABLE IF EXISTS verdict_begin" \
  -c "CREATE TABLE verdict_begin (id text PRIMARY KEY, status text, known bigint, updated_at timestamptz)" \
  -c "INSERT INTO verdict_begin SELECT 'o' || g, 'new', 0, now() FROM generate_series(1, 100000) g" \
  -c "VACUUM ANALYZE verdict_begin"
update="UPDATE verdict_begin SET status = 'filled', known = known + 1, updated_at = clock_timestamp() WHERE id = 'o' || :k;"
cat > "$dir/wrapped.sql" <<SQL
\set k random(1, 100000)
\startpipeline
BEGIN;
SET LOCAL synchronous_commit = off;
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_seqscan = off;
SET LOCAL plan_cache_mode = force_generic_plan;
$update
COMMIT;
\endpipeline
SQL
printf '%s\n%s\n' '\set k random(1, 100000)' "$update" > "$dir/alone.sql"
for run in 1 2 3; do
  for script in wrapped alone; do
    printf '%s, run %s: ' "$script" "$run"
    pgbench $HOST -n -M prepared -c 1 -T 6 -f "$dir/$script.sql" test 2>&1 \
      | sed -n 's/^latency average = \(.*\)/\1/p'
  done
done
