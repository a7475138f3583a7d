#!/usr/bin/env bash
# Runs the platform distributed on this machine: every role its own `bourse serve …`
# process against PostgreSQL and RabbitMQ, two instances of each stateless service,
# and nginx (nginx/nginx.conf) in front on http://127.0.0.1:8080. Ctrl-C stops it all.
#
#   scripts/cluster.sh            # state in target/cluster (kept across runs)
#
# Needs PostgreSQL (127.0.0.1:5432, trust auth) and RabbitMQ (127.0.0.1:5672,
# guest/guest) running and nginx installed (scripts/test.sh installs all three).
# Settings: BOURSE_DB (default: host=127.0.0.1 user=postgres dbname=postgres),
# BOURSE_ADMIN (default admin:change-me), BOURSE_CLUSTER_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${BOURSE_CLUSTER_DIR:-$PWD/target/cluster}"
DB="${BOURSE_DB:-host=127.0.0.1 user=postgres dbname=postgres}"
ADMIN="${BOURSE_ADMIN:-admin:change-me}"
NGINX="${BOURSE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
mkdir -p "$DIR/data" "$DIR/nginx/logs" "$DIR/nginx/temp"

cargo build --release --bin bourse
BIN="$PWD/target/release/bourse"

# The services' key on the gateway and the token secret they share: made once.
if [ ! -f "$DIR/service.secret" ]; then
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/service.secret"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/jwt.secret"
    hash="$(printf %s "$(cat "$DIR/service.secret")" | sha256sum | cut -d' ' -f1)"
    echo "service 0 $hash service" > "$DIR/keys.txt"
    echo '{"op":"add_instrument","symbol":"ACME"}' > "$DIR/bootstrap.jsonl"
fi
export BOURSE_SERVICE_SECRET="$(cat "$DIR/service.secret")"
export BOURSE_JWT_SECRET="$(cat "$DIR/jwt.secret")"
export BOURSE_DATA_DIR="$DIR/data"

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM
# run NAME ARGS…: `bourse ARGS…` in the background, its output in $DIR/NAME.log.
run() { local name="$1"; shift; "$BIN" "$@" >"$DIR/$name.log" 2>&1 & pids+=($!); }

run engine serve engine --keys "$DIR/keys.txt" --keys-db "$DB" --bootstrap "$DIR/bootstrap.jsonl"
sleep 1
run bridge serve bridge
run order serve order --database-url "$DB"
GW=(--gateway tcp://127.0.0.1:5555)
# The ports nginx.conf names: 8081…8084 for the first instances, 8091…8094 for the
# second.
for i in 8 9; do
    extra=()
    [ "$i" = 8 ] && extra=(--admin "$ADMIN")
    run "user-$i" serve user --listen "127.0.0.1:80${i}1" --database-url "$DB" "${GW[@]}" "${extra[@]}"
    sleep 2 # the first instance migrates the schemas before the others start
    run "trader-$i" serve trader --listen "127.0.0.1:80${i}2" --database-url "$DB" "${GW[@]}"
    run "stock-$i" serve stock --listen "127.0.0.1:80${i}3" --database-url "$DB" "${GW[@]}"
    run "portfolio-$i" serve portfolio --listen "127.0.0.1:80${i}4" --database-url "$DB"
    # Conditional orders: the second instance stands by (the trade queue has one
    # active consumer).
    run "auto-$i" serve auto --listen "127.0.0.1:80${i}5" --database-url "$DB" "${GW[@]}"
    run "notification-$i" serve notification --listen "127.0.0.1:80${i}6" --database-url "$DB"
done
"$NGINX" -p "$DIR/nginx" -c "$PWD/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)

cat <<EOF

Bourse is running distributed; logs in $DIR/*.log.
  API (every service, through nginx)  http://127.0.0.1:8080
  binary gateway                      tcp://127.0.0.1:5555
  market data feed                    tcp://127.0.0.1:5556
  admin login                         $ADMIN
Try: curl -s -XPOST localhost:8080/v1/users -H 'content-type: application/json' \\
          -d '{"username":"alice","password":"alice-password"}'
Ctrl-C stops it all.
EOF
wait
