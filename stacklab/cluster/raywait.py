"""Runs inside a Ray head: `python -m stacklab.cluster.raywait N TIMEOUT`.

Waits until N Ray nodes are alive, asking the dashboard's state API with the
cluster token (one process, so polling costs no repeated `import ray`).
Prints the alive nodes' IPs as JSON; exit 1 on timeout.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

URL = "http://127.0.0.1:8265/api/v0/nodes?limit=1000"


def alive_nodes(token: str) -> list[dict]:
    request = urllib.request.Request(URL, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.load(response)
    rows = body.get("data", {}).get("result", {}).get("result", [])
    return [r for r in rows if r.get("state") == "ALIVE"]


def main(argv: list[str]) -> int:
    want, timeout = int(argv[0]), float(argv[1]) if len(argv) > 1 else 300.0
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH", "/run/secrets/ray_token")
    token = open(token_path).read().strip() if os.path.exists(token_path) else ""
    deadline = time.monotonic() + timeout
    nodes: list[dict] = []
    while time.monotonic() < deadline:
        try:
            nodes = alive_nodes(token)
        except OSError:
            nodes = []
        if len(nodes) >= want:
            break
        time.sleep(0.5)
    print(json.dumps(sorted(n.get("node_ip", "?") for n in nodes)))
    return 0 if len(nodes) >= want else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
