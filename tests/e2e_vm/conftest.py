"""Three real VMs (QEMU, cloud-init from cloud-cfg.txt) forming a Swarm, once per session.

No skip when QEMU cannot run: `stacklab vm up` raises and every test fails
loudly. VMs that were already up before the session are reused and left
running; otherwise the fixture takes them down at the end. Select these tests
with `-m vm`, leave them out with `-m "not vm"`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stacklab.cluster.shell import docker, run
from stacklab.vm import cluster
from tests.conftest import hold_session_lock

LOCK = Path("/run/lock/stacklab-vm-tests.lock")
MEMORY = os.environ.get("STACKLAB_VM_TEST_MEMORY", "3G")
PROBE = "stacklab-probe:2"
# A tiny image made inside each VM from its own busybox-static: the Swarm-level
# tests need no registry and no image transfer. (Its wget segfaults, glibc's
# static NSS; HTTP goes through nc, names through busybox's own nslookup.)
MAKE_PROBE = (
    "set -e; docker image inspect " + PROBE + " >/dev/null 2>&1 && exit 0; d=$(mktemp -d); "
    "mkdir -p $d/bin $d/www; cp /bin/busybox $d/bin/; "
    "for a in sh httpd hostname sleep cat echo nc nslookup awk tail seq printf; do ln -s busybox $d/bin/$a; done; "
    "tar -C $d -c . | docker import -c 'ENV PATH=/bin' - " + PROBE + " >/dev/null; rm -rf $d")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots real VMs with QEMU (still runs in CI)")


@pytest.fixture(scope="session")
def vms() -> Iterator[dict]:
    lock = hold_session_lock(LOCK, "VM")
    state = cluster.load_state()
    was_up = bool(state and state.get("ready"))
    start = time.monotonic()
    try:
        state = cluster.up(nodes=3, memory=MEMORY)
    except BaseException:
        if not was_up:
            cluster.down()  # never leave QEMU running after a failed session
        raise
    timing = {"vm_up_seconds": round(time.monotonic() - start, 1), "reused": was_up,
              "accel": state["accel"], **state.get("timings", {})}
    yield state
    if not was_up:
        start = time.monotonic()
        cluster.down()
        timing["vm_down_seconds"] = round(time.monotonic() - start, 1)
    print("\nvm fixture timing: " + json.dumps(timing))
    lock.close()


def vm_sh(index: int, script: str, timeout: float = 300) -> str:
    """Run a shell script as root in VM `index`; its stdout, or an assertion with stderr."""
    code, out, err = cluster.vm_exec(index, [script], timeout=timeout)
    assert code == 0, f"VM {index}: `{script[:80]}` exited {code}: {err.strip()[-500:]}"
    return out


def manager_docker(state: dict, *args: str, check: bool = True, timeout: float = 300):
    """docker against the manager from this host, the way `vm status` tells a user to."""
    return run(docker(state["docker_host"], *args), check=check, timeout=timeout)


@pytest.fixture(scope="session")
def probe(vms) -> str:
    with ThreadPoolExecutor(len(vms["vms"])) as pool:
        list(pool.map(lambda i: vm_sh(i, MAKE_PROBE), range(1, len(vms["vms"]) + 1)))
    return PROBE


def wait_for(what: str, check, timeout: float = 300, every: float = 5):
    """check() until truthy (returned) or fail after timeout: wait on state, not sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)
