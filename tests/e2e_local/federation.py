"""A real local federation for a test module: free ports, a state dir, `fl up` ... `fl down`."""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import run_cli

PORT_KEYS = ["postgres_port", "s3_port", "weed_master_port", "weed_volume_port", "weed_filer_port",
             "controller_port", "combiner_port", "dashboard_port"]


def port_free(port: int) -> bool:
    """Whether a server could bind port on loopback now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n: int) -> list[int]:
    """n ports p with p and p+10000 both free (SeaweedFS takes port+10000 for gRPC)."""
    picked: list[int] = []
    while len(picked) < n:
        p = random.randint(20000, 29999)
        if p not in picked and port_free(p) and port_free(p + 10000):
            picked.append(p)
    return picked


@contextmanager
def local_federation(prefix: str, settings: dict[str, Any], *up_args: str) -> Iterator[dict[str, Any]]:
    """`fl up` on free ports with ``settings`` (--set KEY=VALUE); always `fl down` afterwards."""
    # world-searchable parent: PostgreSQL runs as the postgres user when we are root
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    state = root / "state"
    ports = dict(zip(PORT_KEYS, free_ports(len(PORT_KEYS)), strict=True))
    sets = [f"--set={k}={v}" for k, v in {**ports, **settings}.items()]
    proc = run_cli("fl", "up", "--state-dir", state, "--data", "standin", *up_args, *sets, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        yield {"root": root, "state": state, "ports": ports, "out": root / "results"}
    finally:
        run_cli("fl", "down", "--state-dir", state, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
