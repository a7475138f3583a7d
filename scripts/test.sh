#!/usr/bin/env bash
# The test command: formatting, lints, then the whole test suite.
# Needs the Rust toolchain, and PostgreSQL (127.0.0.1:5432, trust auth, database
# `test`) and RabbitMQ (127.0.0.1:5672, guest/guest) running: the settlement and bus
# tests use the real servers. Every Rust dependency builds from crates.io; the Python
# test clients (alpaca-py) install from PyPI into target/test-venv.
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

# The Python test clients (the official alpaca-py SDK) in a virtual environment of
# their own, made once and kept in target/.
VENV="${BOURSE_VENV:-target/test-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
if ! "$VENV/bin/python" -c "import alpaca, schemathesis" >/dev/null 2>&1; then
    echo "== Python test clients into $VENV"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "alpaca-py==0.44.0" "schemathesis==4.32.*"
fi
export BOURSE_PYTHON="$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
