"""The role images reach the nodes through the cluster's registry: nodes pull on
deploy, a code change arrives by pull, a missing tag is one clear line, and no
image carries the test and lint tools."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from stacklab.cluster import deploy, images, registry
from stacklab.cluster.shell import docker, out, run
from stacklab.core.errors import UserError
from tests.conftest import REPO

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

PART = "ray_tuning"
STAMP = "swarm/code-change-stamp.txt"   # a file of the kit layer that only this test writes


def test_a_code_change_reaches_every_node_by_pull(swarm, stack):
    stack(PART)
    deploy.wait_ray_nodes(PART, 3, timeout=300)
    old_tag = deploy.image_env()["STACKLAB_TAG"]
    stamp = uuid.uuid4().hex
    manager, reg = deploy.manager(), swarm["registry"]
    new_tag = registry.build_and_push(manager, "local", reg, extra={STAMP: stamp})
    assert new_tag != old_tag
    workers = [n["socket"] for n in swarm["nodes"][1:]]
    new_ray = images.role_image("ray", new_tag, reg)
    for host in workers:   # not on the workers before the update: nothing is loaded into them
        assert run(docker(host, "image", "inspect", new_ray), check=False).returncode != 0
    deploy.deploy(PART, env={"STACKLAB_TAG": new_tag})          # = service update of each service
    deploy.wait_rollout(PART, ["head", "worker"], new_tag, 3, timeout=600)
    deploy.wait_ray_nodes(PART, 3, timeout=300)
    seen = what_running_tasks_hold(new_tag)
    assert len({host for host, _, _, _ in seen}) == 3, seen
    for host, image, stamp_read, digests in seen:
        assert image.startswith(new_ray), (host, image)     # digest-pinned: <ref>@sha256:...
        assert stamp_read == stamp, host
        # pulled from the registry (by digest), not built or loaded
        assert f"{reg}/stacklab-ray@sha256:" in digests, (host, digests)


def what_running_tasks_hold(tag: str, timeout: float = 300) -> list[tuple[str, str, str, str]]:
    """(node, image, stamp file, image RepoDigests) of each running task on ``tag``.

    A Ray worker task that joined the old head exits when the head is replaced and
    Swarm starts a new one, so a container listed a moment ago may be gone: list
    again and read again until one listing can be read whole."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = deploy.wait_rollout(PART, ["head", "worker"], tag, 3, timeout=timeout)
        try:
            return [(host, image, out(docker(host, "exec", cid, "cat", f"/opt/stacklab/{STAMP}")),
                     out(docker(host, "image", "inspect", "-f", "{{json .RepoDigests}}",
                                out(docker(host, "inspect", "-f", "{{.Image}}", cid)))))
                    for host, cid, image in tasks]
        except UserError as gone:
            if "is not running" not in str(gone) and "No such container" not in str(gone) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(2)

def test_a_missing_tag_fails_with_one_line_naming_it(swarm):
    proc = subprocess.run([sys.executable, "-m", "stacklab.cli", "stack", "deploy", PART],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**__import__("os").environ, "STACKLAB_TAG": "no-such-tag"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ":no-such-tag" in lines[0] and "stacklab-" in lines[0], proc.stderr
    assert "stacklab images push" in lines[0]
    assert PART not in out(docker(deploy.manager(), "stack", "ls")).split()


PROBE = """
import importlib.util as u, shutil
print(" ".join(m for m in ("pytest", "ruff", "ray", "fedn", "torch") if u.find_spec(m)),
      "ruff-bin" if shutil.which("ruff") else "", "postgres" if shutil.which("pg_ctl")
      or __import__("os").path.exists("/usr/lib/postgresql") else "")
"""


def test_role_images_carry_only_their_roles_tools(swarm):
    host, env = deploy.manager(), deploy.image_env()
    found = {}
    for role in images.ROLES:
        ref = images.role_image(role, env["STACKLAB_TAG"], env["STACKLAB_REGISTRY"])
        found[role] = set(out(docker(host, "run", "--rm", "--entrypoint", "python", ref,
                                     "-c", PROBE), timeout=300).split())
    for role, present in found.items():
        assert not {"pytest", "ruff", "ruff-bin"} & present, (role, present)
    assert {"ray", "torch"} <= found["ray"] and not {"fedn", "postgres"} & found["ray"]
    assert {"fedn", "torch"} <= found["fedn"] and not {"ray", "postgres"} & found["fedn"]
    assert "postgres" in found["postgres"] and not {"ray", "torch"} & found["postgres"]
    assert not {"ray", "fedn", "torch", "postgres"} & found["s3"]
