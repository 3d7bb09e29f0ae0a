"""Runs inside a Ray head: `python -m stacklab.cluster.raywait N TIMEOUT`.

Waits until N Ray nodes are alive, asking the dashboard's state API with the
cluster token (one process, so polling costs no repeated `import ray`).
and the S3 storage answers. Prints the alive nodes' IPs as JSON; exit 1 on timeout.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.parse
import urllib.request

from stacklab.core.constants import RAY_DASHBOARD_PORT, SECRETS_DIR

URL = f"http://127.0.0.1:{RAY_DASHBOARD_PORT}/api/v0/nodes?limit=1000"


def alive_nodes(token: str) -> list[dict]:
    request = urllib.request.Request(URL, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.load(response)
    rows = body.get("data", {}).get("result", {}).get("result", [])
    return [r for r in rows if r.get("state") == "ALIVE"]


def storage_reachable() -> bool:
    """The S3 endpoint (the runs' storage_path) answers: a job may start."""
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return True
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
        return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    want, timeout = int(argv[0]), float(argv[1]) if len(argv) > 1 else 300.0
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH", f"{SECRETS_DIR}/ray_token")
    token = open(token_path).read().strip() if os.path.exists(token_path) else ""
    deadline = time.monotonic() + timeout
    nodes: list[dict] = []
    while time.monotonic() < deadline:
        try:
            nodes = alive_nodes(token)
        except OSError:
            nodes = []
        if len(nodes) >= want and storage_reachable():
            break
        time.sleep(0.5)
    print(json.dumps(sorted(n.get("node_ip", "?") for n in nodes)))
    return 0 if len(nodes) >= want and storage_reachable() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
