#!/usr/bin/env bash
# Deploys Bourse to the Kubernetes cluster kubectl points at (k8s/base), in order:
# the namespace, the Secret made from the environment, the configuration, the engine
# (and its bridge), settlement, the HTTP services, the network policies and Istio; then
# waits for each rollout and checks that every service is ready.
#
#   BOURSE_JWT_SECRET=... BOURSE_SERVICE_SECRET=<32 characters> BOURSE_ADMIN=admin:... \
#   DATABASE_URL='host=... user=... password=... dbname=...' BOURSE_AMQP='amqp://...' \
#     scripts/deploy.sh [--dry-run] [--image REGISTRY/bourse:TAG]
#
# --dry-run contacts no cluster: it renders every manifest with the Secret and the
# image, validates them offline (kubernetes-validate; the Istio resources with
# scripts/check-deploy.py) and prints the commands it would run.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
IMAGE="bourse:latest"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --image) IMAGE="$2"; shift ;;
        *) echo "deploy: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
NS=bourse
: "${BOURSE_JWT_SECRET:?set BOURSE_JWT_SECRET}"
: "${BOURSE_SERVICE_SECRET:?set BOURSE_SERVICE_SECRET (32 characters)}"
: "${BOURSE_ADMIN:?set BOURSE_ADMIN (USERNAME:PASSWORD)}"
: "${DATABASE_URL:?set DATABASE_URL}"
: "${BOURSE_AMQP:?set BOURSE_AMQP}"
if [ "${#BOURSE_SERVICE_SECRET}" -ne 32 ]; then
    echo "deploy: BOURSE_SERVICE_SECRET must be 32 characters" >&2
    exit 2
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
# The manifests with the image, and the real Secret instead of the placeholder.
for f in namespace config engine order user trader stock portfolio auto notification network istio; do
    sed "s|image: bourse:latest|image: $IMAGE|" "k8s/base/$f.yaml" > "$OUT/$f.yaml"
done
python3 - "$OUT/config.yaml" <<'PY'
import json, os, sys
path = sys.argv[1]
text = open(path).read()
head = text[: text.index("# Placeholders")]
secret = {
    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
    "metadata": {"name": "bourse-secrets", "namespace": "bourse"},
    "stringData": {
        "database-url": os.environ["DATABASE_URL"],
        "amqp": os.environ["BOURSE_AMQP"],
        "jwt-secret": os.environ["BOURSE_JWT_SECRET"],
        "service-secret": os.environ["BOURSE_SERVICE_SECRET"],
        "admin": os.environ["BOURSE_ADMIN"],
    },
}
open(path, "w").write(head + json.dumps(secret) + "\n")
PY

run() {
    if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi
}

if [ "$DRY" = 1 ]; then
    VALIDATE="${BOURSE_VENV:-target/test-venv}/bin/kubernetes-validate"
    for f in "$OUT"/*.yaml; do
        case "$f" in */istio.yaml) continue ;; esac
        "$VALIDATE" -k 1.32.0 --strict --quiet "$f"
    done
    echo "deploy: manifests valid (image $IMAGE)"
fi

run kubectl apply -f "$OUT/namespace.yaml"
run kubectl apply -f "$OUT/config.yaml"
run kubectl apply -f "$OUT/engine.yaml"
run kubectl -n "$NS" rollout status statefulset/engine --timeout=300s
run kubectl apply -f "$OUT/order.yaml"
for s in user trader stock portfolio auto notification; do
    run kubectl apply -f "$OUT/$s.yaml"
done
run kubectl apply -f "$OUT/network.yaml"
run kubectl apply -f "$OUT/istio.yaml"
for d in order user trader stock portfolio auto notification; do
    run kubectl -n "$NS" rollout status "deployment/$d" --timeout=300s
done
# Ready: every pod of every role passes its readiness probe.
for r in engine order user trader stock portfolio auto notification; do
    run kubectl -n "$NS" wait --for=condition=Ready pod -l "app.kubernetes.io/name=$r" --timeout=120s
done
if [ "$DRY" = 1 ]; then
    echo "deploy: dry run done, nothing applied"
else
    echo "deploy: done"
fi
