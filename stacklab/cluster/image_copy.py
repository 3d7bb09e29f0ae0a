"""Role images copied from this machine's registry cache into another Swarm's registry.

Why copy instead of `stacklab images push` against the other Swarm's manager: a
push builds the images on that manager's daemon and compresses every layer
there, which on an emulated VM (TCG) takes far longer than the lab itself.
skopeo sends the compressed blobs as they are, registry to registry: the VM
only writes files. The source is the local cluster's registry storage (kept in
the host's cache, swarm/registry.local.yml), served read-only for the copy by
the same docker-registry binary on 127.0.0.1, so no local cluster needs to run.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stacklab.cluster import images
from stacklab.cluster.registry import pushed_tags, registry_package
from stacklab.cluster.shell import cache_dir, log, need_tool, run
from stacklab.core.errors import UserError

SERVE_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  maintenance:
    readonly:
      enabled: {readonly}
http:
  addr: 127.0.0.1:{port}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_storage(root: Path, readonly: bool = True, timeout: float = 30) -> Iterator[str]:
    """A registry storage served by the cached docker-registry on 127.0.0.1; yields host:port."""
    binary = registry_package() / "usr" / "bin" / "docker-registry"
    port = _free_port()
    config = cache_dir("context") / f"registry-serve-{port}.yml"
    config.write_text(SERVE_CONFIG.format(root=root, port=port, readonly=str(readonly).lower()))
    proc = subprocess.Popen([str(binary), "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise UserError(f"the registry storage {root} could not be served: run "
                                    f"`{binary} serve {config}` to see why") from None
                time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        config.unlink(missing_ok=True)


def cached_tag() -> str:
    """The tag the local cluster last pushed (its registry is the cache)."""
    tags = set(pushed_tags().values())
    if len(tags) != 1:
        raise UserError("which tag? pass --tag (the local cluster has pushed "
                        f"{', '.join(sorted(tags)) or 'none yet: run `stacklab cluster up`'})")
    return tags.pop()


def copy_roles(dest: str, tag: str, roles: tuple[str, ...] = images.ROLES) -> float:
    """skopeo copy of stacklab-<role>:<tag> for each role, from the cache into ``dest``; seconds."""
    need_tool("skopeo", "run scripts/system-deps.sh")
    root = cache_dir("registry")
    if not (root / "docker" / "registry" / "v2" / "repositories").is_dir():
        raise UserError(f"no role images in {root}: run `stacklab cluster up` once (it builds "
                        "and pushes them there), then copy")
    start = time.monotonic()
    with serve_storage(root) as src:
        for role in roles:
            began = time.monotonic()
            proc = run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        f"docker://{images.role_image(role, tag, src)}",
                        f"docker://{images.role_image(role, tag, dest)}"],
                       check=False, timeout=3600)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise UserError(f"copy of stacklab-{role}:{tag} to {dest} failed: {last} "
                                "(is that registry up: `stacklab images registry` on its Swarm?)")
            log(f"stacklab-{role}:{tag} -> {dest} in {time.monotonic() - began:.0f} s")
    return time.monotonic() - start
