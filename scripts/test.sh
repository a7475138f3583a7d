#!/usr/bin/env bash
# The test command: formatting, lints, then the whole test suite.
# Needs the Rust toolchain, and PostgreSQL (127.0.0.1:5432, trust auth, database
# `test`) and RabbitMQ (127.0.0.1:5672, guest/guest) running: the settlement and bus
# tests use the real servers. Every Rust dependency builds from crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

# Start the servers if they are installed but stopped.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "== starting PostgreSQL"
    pg_ctlcluster 15 main start || true
fi
if command -v rabbitmqctl >/dev/null && ! rabbitmqctl -q status >/dev/null 2>&1; then
    echo "== starting RabbitMQ"
    (service rabbitmq-server start || rabbitmq-server -detached) >/dev/null 2>&1 || true
    rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@localhost.pid >/dev/null 2>&1 || sleep 10
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
