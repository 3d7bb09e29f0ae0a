"""A real 3-node Docker Swarm on this machine, brought up once per test session.

No skip when Docker is missing: `stacklab cluster up` raises, the tests fail
loudly (CI installs docker.io through scripts/system-deps.sh). A cluster that
was already up before the session is reused and left running.
Other parts' Swarm tests (e.g. the FEDn federation) reuse `swarm` and `stack`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stacklab.cluster import deploy, local
from stacklab.core.results import write_json
from tests.conftest import hold_session_lock

TIMING = Path("results/cluster/e2e_timing.json")
# One local cluster per machine: a second test session (another engineer's, on
# a shared dev machine) waits here instead of tearing the cluster down under us.
LOCK = Path("/run/lock/stacklab-swarm-tests.lock")


@pytest.fixture(scope="session")
def swarm() -> Iterator[dict]:
    lock = hold_session_lock(LOCK, "Swarm")
    state = local.load_state()
    was_up = bool(state and state.get("ready"))
    start = time.monotonic()
    state = local.up(nodes=3)          # registry + role images pushed (wheels layers cached)
    timing = {"cluster_up_seconds": round(time.monotonic() - start, 1), "reused": was_up}
    yield state
    if not was_up:
        start = time.monotonic()
        local.down()
        timing["cluster_down_seconds"] = round(time.monotonic() - start, 1)
    write_json(TIMING, timing)
    print("\nswarm fixture timing: " + json.dumps(timing))
    lock.close()  # releases the flock


@pytest.fixture
def stack(swarm) -> Iterator[Callable[..., None]]:
    """deploy(part, **env): deploys a stack; every stack deployed is removed afterwards."""
    deployed: list[str] = []

    def _deploy(part: str, **env: str) -> None:
        # a fresh stack: updating a running one would let the test talk to tasks
        # that the rolling update is about to replace
        deploy.remove(part)
        deploy.deploy(part, env=env)
        deployed.append(part)

    yield _deploy
    for part in deployed:
        deploy.remove(part)


def exec_in(host: str, container: str, *cmd: str, **env: str):
    """docker exec with a clean result object (stdout, stderr, returncode)."""
    from stacklab.cluster.shell import docker, run

    flags = [item for k, v in env.items() for item in ("-e", f"{k}={v}")]
    return run(docker(host, "exec", *flags, container, *cmd), check=False, timeout=300)
