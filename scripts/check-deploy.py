"""Checks the deployment files against the binary: every role `bourse serve` has runs
in docker/docker-compose.yml and in k8s/base, every environment variable either gives a
role is one that role reads (as `bourse serve ROLE --help` lists them), and a k8s
container's port is the one its `..._LISTEN` variable names — so a renamed flag or a new
role cannot leave the deployment behind silently. Also checks the Istio resources
against the subset of Istio's schema they use (no CRD schemas are available offline;
kubernetes-validate checks the built-in kinds).

Usage: check-deploy.py PATH_TO_BOURSE_BINARY
"""
import glob
import re
import subprocess
import sys

import jsonschema
from ruamel.yaml import YAML

binary = sys.argv[1]
ROLES = ["engine", "bridge", "order", "user", "trader", "stock", "portfolio", "auto", "notification"]


def reads(role):
    out = subprocess.run([binary, "serve", role, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"env: ([A-Z0-9_]+)", out))


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
URI = obj({"prefix": STRING, "exact": STRING, "regex": STRING})
DESTINATION = obj({"host": STRING, "port": obj({"number": {"type": "integer"}}, ["number"])}, ["host"])
ISTIO = {
    ("networking.istio.io/v1", "Gateway"): obj({
        "selector": {"type": "object"},
        "servers": {"type": "array", "items": obj({
            "port": obj({"number": {"type": "integer"}, "name": STRING, "protocol": STRING}, ["number", "protocol"]),
            "hosts": STRINGS,
        }, ["port", "hosts"])},
    }, ["selector", "servers"]),
    ("networking.istio.io/v1", "VirtualService"): obj({
        "hosts": STRINGS,
        "gateways": STRINGS,
        "http": {"type": "array", "items": obj({
            "name": STRING,
            "match": {"type": "array", "items": obj({"uri": URI})},
            "route": {"type": "array", "items": obj({"destination": DESTINATION}, ["destination"])},
            "timeout": STRING,
            "retries": obj({"attempts": {"type": "integer"}, "perTryTimeout": STRING, "retryOn": STRING}),
        }, ["route"])},
    }, ["hosts", "http"]),
    ("networking.istio.io/v1", "DestinationRule"): obj({
        "host": STRING,
        "trafficPolicy": obj({
            "tls": obj({"mode": {"enum": ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]}}),
            "connectionPool": {"type": "object"},
            "outlierDetection": obj({
                "consecutive5xxErrors": {"type": "integer"},
                "consecutiveGatewayErrors": {"type": "integer"},
                "interval": STRING,
                "baseEjectionTime": STRING,
                "maxEjectionPercent": {"type": "integer"},
            }),
        }),
    }, ["host"]),
    ("security.istio.io/v1", "PeerAuthentication"): obj({
        "mtls": obj({"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}}),
    }),
}


def compose_roles(failures):
    compose = YAML(typ="safe").load(open("docker/docker-compose.yml"))
    deployed = {}
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if isinstance(command, list) and command[:1] == ["serve"] and len(command) > 1:
            deployed.setdefault(command[1], []).append((name, list(service.get("environment") or {})))
    return deployed


def k8s_roles(failures):
    deployed = {}
    for path in sorted(glob.glob("k8s/base/*.yaml")):
        for doc in YAML(typ="safe").load_all(open(path)):
            if not doc:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key[0] and key[0].endswith("istio.io/v1"):
                schema = ISTIO.get(key)
                if schema is None:
                    failures.append(f"{path}: no schema here for {key}")
                else:
                    try:
                        jsonschema.validate(doc.get("spec"), schema)
                    except jsonschema.ValidationError as e:
                        failures.append(f"{path}: {key[1]} {doc['metadata']['name']}: {e.message}")
                continue
            if doc.get("kind") not in ("Deployment", "StatefulSet"):
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                args = c.get("args") or []
                if args[:1] != ["serve"] or len(args) < 2:
                    continue
                env = {e["name"]: e.get("value") for e in c.get("env") or []}
                deployed.setdefault(args[1], []).append((f"{path}:{c['name']}", list(env)))
                ports = [p["containerPort"] for p in c.get("ports") or []]
                for var, value in env.items():
                    if var.endswith(("_LISTEN", "_BIND")) and value:
                        port = int(value.rsplit(":", 1)[1])
                        if port not in ports:
                            failures.append(f"{path}:{c['name']} listens on {port}, its container ports are {ports}")
    return deployed


# The roles without an HTTP port of their own serve /metrics only when given an address.
METRICS_ONLY = ["engine", "bridge", "order"]


def compose_scraped(failures):
    """Every role of the compose file is a target of docker/prometheus/prometheus.yml, on
    the port it serves /metrics on."""
    compose = YAML(typ="safe").load(open("docker/docker-compose.yml"))
    prom = YAML(typ="safe").load(open("docker/prometheus/prometheus.yml"))
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if not (isinstance(command, list) and command[:1] == ["serve"] and len(command) > 1):
            continue
        env = service.get("environment") or {}
        bind = env.get("BOURSE_METRICS_BIND") or env.get(f"BOURSE_{command[1].upper()}_LISTEN")
        if not bind:
            failures.append(f"docker-compose.yml: {name} serves no /metrics")
            continue
        if f"{name}:{bind.rsplit(':', 1)[1]}" not in targets:
            failures.append(f"docker-compose.yml: {name} ({bind}) is not scraped by prometheus.yml")


def main():
    failures = []
    reads_of = {role: reads(role) for role in ROLES}
    compose_scraped(failures)
    for where, deployed in [("docker-compose.yml", compose_roles(failures)), ("k8s/base", k8s_roles(failures))]:
        for role in ROLES:
            if role not in deployed:
                failures.append(f"role {role} is not deployed in {where}")
                continue
            for name, variables in deployed[role]:
                if role in METRICS_ONLY and "BOURSE_METRICS_BIND" not in variables:
                    failures.append(f"{name} (serve {role}) sets no BOURSE_METRICS_BIND: no metrics")
                for var in variables:
                    if var not in reads_of[role]:
                        failures.append(f"{name} (serve {role}) sets {var}, which the role does not read")
    for f in failures:
        print("check-deploy:", f)
    if failures:
        sys.exit(1)
    print(f"check-deploy: {len(ROLES)} roles deployed in compose and in k8s; every variable is one "
          "they read; ports match; every role serves /metrics and compose's are all scraped; "
          "Istio resources well-formed")


main()
