#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine or cluster runs here):
# hadolint on the Dockerfile, the compose file against the Compose Specification's
# schema, yamllint, and the roles and variables against the binary (check-deploy.py).
# Run by scripts/test.sh with the tools in its virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BOURSE_VENV:-$PWD/target/test-venv}"
BIN="${1:-target/debug/bourse}"
"$VENV/bin/hadolint" docker/Dockerfile
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker/docker-compose.yml
"$VENV/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}' docker/docker-compose.yml
"$VENV/bin/python" scripts/check-deploy.py "$BIN"
