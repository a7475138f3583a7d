#!/bin/sh
# PostgreSQL's CPU over a command: the user and system time of every `postgres`
# process, with the time of children the postmaster reaped (its backends that ended),
# read from /proc before and after.
#
#   sh benches/sql/pg-cpu.sh target/release/http-bench --rate 6000,20000 --seconds 4
set -eu
pg_ticks() {
    total=0
    for pid in $(pgrep -x postgres); do
        # Fields 14-17 of /proc/PID/stat: utime, stime, cutime, cstime (clock ticks).
        t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}
before=$(pg_ticks)
"$@"
after=$(pg_ticks)
echo "postgres CPU: $(( (after - before) * 1000 / $(getconf CLK_TCK) )) ms"
