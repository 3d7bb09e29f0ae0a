"""Credentials as Docker secrets: generated here, never written to the repo.

Inside a container a secret is a file /run/secrets/<name>; the stack files
name them (external: true) and ``ensure`` creates them on the manager from
fresh random values the first time a stack needs them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from stacklab.cluster.shell import docker, run

SECRETS_DIR = Path(os.environ.get("STACKLAB_SECRETS_DIR", "/run/secrets"))
# name -> generator of a fresh value
GENERATED = {
    "stacklab_ray_token": lambda: secrets.token_hex(32),
    "stacklab_s3_access_key": lambda: "sl" + secrets.token_hex(8),
    "stacklab_s3_secret_key": lambda: secrets.token_urlsafe(30),
    # federated/docker-stack.yml: the statestore's password and FEDn's JWT signing key
    "stacklab_fl_postgres_password": lambda: secrets.token_urlsafe(24),
    "stacklab_fl_jwt_secret": lambda: secrets.token_urlsafe(48),
}


def ensure(host: str | None, names: list[str]) -> list[str]:
    """Create the missing secrets among ``names`` on the manager; returns those created."""
    existing = set(run(docker(host, "secret", "ls", "--format", "{{.Name}}")).stdout.split())
    created = []
    for name in names:
        if name in existing or name not in GENERATED:
            continue
        # The value goes over stdin: never on a command line or in a file.
        run(docker(host, "secret", "create", "--label", "stacklab=1", name, "-"),
            input=GENERATED[name]())
        created.append(name)
    return created


def read(name: str) -> str:
    """A secret's value inside a container (empty string if not mounted)."""
    try:
        return (SECRETS_DIR / name).read_text().strip()
    except FileNotFoundError:
        return ""
