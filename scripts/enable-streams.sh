#!/usr/bin/env bash
# Enables RabbitMQ Streams (the rabbitmq_stream plugin that ships with the server) on
# the local broker, listening on loopback only (127.0.0.1:5552), for
# `pipeline-bench --streams`. Idempotent; the servers are fresh on every machine, so
# the measurement runs this itself and so can you.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! as_root rabbitmq-plugins -q is_enabled rabbitmq_stream >/dev/null 2>&1; then
    # The listener is read when the plugin starts: set it first.
    as_root rabbitmqctl -q eval \
        'application:set_env(rabbitmq_stream, tcp_listeners, [{"127.0.0.1", 5552}], [{persistent, true}]).' >/dev/null
    as_root rabbitmq-plugins -q enable rabbitmq_stream >/dev/null
fi
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/5552) 2>/dev/null && exit 0
    sleep 0.2
done
echo "enable-streams: nothing listens on 127.0.0.1:5552" >&2
exit 1
