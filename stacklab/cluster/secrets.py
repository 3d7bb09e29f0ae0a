"""Credentials as Docker secrets: generated here, never written to the repo.

Inside a container a secret is a file /run/secrets/<name>; the stack files
name them (external: true) and ``ensure`` creates them on the manager from
fresh random values the first time a stack needs them.
"""

from __future__ import annotations

import os
from pathlib import Path

from stacklab.cluster.shell import docker, run
from stacklab.core.constants import SECRETS
from stacklab.core.constants import SECRETS_DIR as MOUNT_DIR

SECRETS_DIR = Path(os.environ.get("STACKLAB_SECRETS_DIR", MOUNT_DIR))
# Docker secret name -> generator of a fresh value (the same generators as `fl up`)
GENERATED = {docker_name: make for docker_name, make in SECRETS.values()}


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
