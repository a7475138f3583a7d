"""Checks the deployment files against the binary: every role `bourse serve` has runs
in docker/docker-compose.yml, and every environment variable compose gives a role is
one that role reads (as `bourse serve ROLE --help` lists them) — so a renamed flag or
a new role cannot leave the deployment behind silently.

Usage: check-deploy.py PATH_TO_BOURSE_BINARY
"""
import re
import subprocess
import sys

from ruamel.yaml import YAML

binary = sys.argv[1]
ROLES = ["engine", "bridge", "order", "user", "trader", "stock", "portfolio"]


def reads(role):
    out = subprocess.run([binary, "serve", role, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"env: ([A-Z0-9_]+)", out))


def main():
    compose = YAML(typ="safe").load(open("docker/docker-compose.yml"))
    failures = []
    deployed = {}
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if isinstance(command, list) and command[:1] == ["serve"] and len(command) > 1:
            deployed.setdefault(command[1], []).append((name, service))
    for role in ROLES:
        if role not in deployed:
            failures.append(f"role {role} is not deployed in docker-compose.yml")
            continue
        known = reads(role)
        for name, service in deployed[role]:
            for var in (service.get("environment") or {}):
                if var not in known:
                    failures.append(f"{name} (serve {role}) sets {var}, which the role does not read")
    for f in failures:
        print("check-deploy:", f)
    if failures:
        sys.exit(1)
    print(f"check-deploy: {len(ROLES)} roles deployed in compose; every variable is one they read")


main()
