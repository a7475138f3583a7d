#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine or cluster runs here):
# hadolint on the Dockerfile, the compose file against the Compose Specification's
# schema, the Kubernetes manifests against Kubernetes 1.32's schemas
# (kubernetes-validate --strict), yamllint on all of them, the roles, variables and
# ports against the binary and the Istio resources against their schema subset
# (check-deploy.py), scripts/deploy.sh --dry-run, Prometheus's configuration and the
# alert rules' unit tests (promtool), and the Grafana dashboard's JSON.
# Run by scripts/test.sh with the tools in its virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BOURSE_VENV:-$PWD/target/test-venv}"
BIN="${1:-target/debug/bourse}"
"$VENV/bin/hadolint" docker/Dockerfile
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker/docker-compose.yml
for f in k8s/base/*.yaml; do
    case "$f" in */istio.yaml|*/kustomization.yaml) continue ;; esac
    "$VENV/bin/kubernetes-validate" -k 1.32.0 --strict --quiet "$f"
done
"$VENV/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}, braces: {max-spaces-inside: 1}}}' docker/docker-compose.yml k8s/base
"$VENV/bin/python" scripts/check-deploy.py "$BIN"
promtool check config docker/prometheus/prometheus.yml > /dev/null
(cd docker/prometheus && promtool test rules alerts.test.yml > /dev/null)
"$VENV/bin/python" - <<'PY'
import json
d = json.load(open("docker/grafana/dashboards/bourse.json"))
assert d["uid"] and d["panels"], "a dashboard with panels"
for p in d["panels"]:
    assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
print(f"check-deploy: Grafana dashboard: {len(d['panels'])} panels")
PY
BOURSE_VENV="$VENV" BOURSE_JWT_SECRET=check BOURSE_SERVICE_SECRET=abcdefghijklmnopqrstuvwxyz012345 \
    BOURSE_ADMIN=admin:check DATABASE_URL='host=postgres user=bourse dbname=bourse' \
    BOURSE_AMQP='amqp://bourse:bourse@rabbitmq:5672/%2f' \
    scripts/deploy.sh --dry-run --image registry.example/bourse:check > /dev/null
