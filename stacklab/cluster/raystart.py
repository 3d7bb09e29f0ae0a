"""`ray start` that gives a slow node's raylet longer to register: `python -m stacklab.cluster.raystart ARGS`.

Ray 2.60 waits a hard-coded 30 s for a new node's raylet to appear in the GCS
(`raylet_start_wait_time_s = 30` in ray/_private/node.py; ray-project/ray#47087
asks for a larger value, a 2026 draft for an environment variable). On a VM
under TCG emulation, 1 vCPU on shared cores, the raylet and its agents take
longer than that to start, so every head exited "The current node timed out
during startup" and Swarm restarted it into the same wall. The same stop is
reproduced on any machine by running `ray start --head` in a cgroup of
0.08 CPU. Ray's own loop still decides; only its lookup, which raises
RuntimeError while the node is missing, is retried here for
STACKLAB_RAY_START_WAIT_S seconds (default: Ray's 30), so a raylet that really
died still ends the start, just later. The dashboard's 60 s start limit, the
next wall on such a node, is a setting of Ray's own
(RAY_DASHBOARD_STARTUP_TIMEOUT_S) and gets the same length unless it is set.
The last wall is in the raylet (C++): it gives its dashboard agent about 15 s
to write its port files and aborts past that ("Timed out waiting for file
.../dashboard_agent_listen_port_*"); no setting moves it in Ray 2.60
(RAY_agent_register_timeout_ms does not), and on such a VM the agent's imports
alone take 8.7 s. The kit pins those ports (raynode.PORTS), so their values
are known before the agent starts: the files are written here, with Ray's own
`persist_port`, just before the raylet starts; the agent later writes the
same numbers.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

DEFAULT_WAIT_S = 30.0   # Ray's own value


def patient(lookup: Callable[..., Any], wait_s: float, *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Callable[..., Any]:
    """`lookup`, retried while it raises RuntimeError (node not registered yet), for wait_s seconds."""
    def retried(*args: Any, **kwargs: Any) -> Any:
        deadline = clock() + wait_s
        while True:
            try:
                return lookup(*args, **kwargs)
            except RuntimeError:
                if clock() >= deadline:
                    raise
                sleep(0.5)
    return retried


def wait_seconds(env: dict[str, str]) -> float:
    """STACKLAB_RAY_START_WAIT_S as seconds; a wrong value is one clear line."""
    raw = env.get("STACKLAB_RAY_START_WAIT_S", "")
    if not raw:
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SystemExit(f"raystart: STACKLAB_RAY_START_WAIT_S={raw!r} is not a positive number "
                         "of seconds: fix the stack's environment")
    return value


def slow_node_settings(wait_s: float) -> dict[str, str]:
    """Ray's own start limits that a setting moves, as long as the raylet's registration wait."""
    return {"RAY_DASHBOARD_STARTUP_TIMEOUT_S": str(int(wait_s))}


def announce_pinned_ports(node: Any, persist: Callable[[str, str, str, int], None]) -> list[str]:
    """Write the port files of the dashboard agent's pinned ports for ``node`` (a ray Node); their names."""
    from ray._raylet import (
        DASHBOARD_AGENT_LISTEN_PORT_NAME,
        METRICS_AGENT_PORT_NAME,
        METRICS_EXPORT_PORT_NAME,
    )
    params = node._ray_params
    written = []
    for name, port in ((DASHBOARD_AGENT_LISTEN_PORT_NAME, params.dashboard_agent_listen_port),
                       (METRICS_AGENT_PORT_NAME, params.metrics_agent_port),
                       (METRICS_EXPORT_PORT_NAME, params.metrics_export_port)):
        if port:  # 0/None: Ray picks the port, only the agent knows it
            persist(node.get_session_dir_path(), node.node_id, name, int(port))
            written.append(name)
    return written


def announcing(start_raylet: Callable[..., Any], persist: Callable[[str, str, str, int], None]
               ) -> Callable[..., Any]:
    """Node.start_raylet that first announces the pinned agent ports."""
    def start(node: Any, *args: Any, **kwargs: Any) -> Any:
        announce_pinned_ports(node, persist)
        return start_raylet(node, *args, **kwargs)
    return start


def main(argv: list[str]) -> int:
    wait_s = wait_seconds(dict(os.environ))
    if wait_s > DEFAULT_WAIT_S:  # read when ray's constants are imported, so before that
        for name, value in slow_node_settings(wait_s).items():
            os.environ.setdefault(name, value)
    import ray._private.node as ray_node  # imported late: `ray` is heavy, and only this needs it
    import ray._private.services as services
    from ray._raylet import persist_port
    from ray.scripts.scripts import main as ray_main

    if wait_s > DEFAULT_WAIT_S:
        services.get_node = patient(services.get_node, wait_s)
        ray_node.Node.start_raylet = announcing(ray_node.Node.start_raylet, persist_port)
    sys.argv = ["ray", *argv]
    return ray_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
