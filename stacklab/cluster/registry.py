"""The cluster's image registry: how the role images reach every Swarm node.

Debian's `docker-registry` (distribution 2.8) in a tiny image on the local base,
deployed as its own stack (swarm/registry.yml) on the manager, port 5000 in
host mode. `stacklab images push` builds the role images and pushes them;
the stacks reference ``${STACKLAB_REGISTRY}/stacklab-<role>:${STACKLAB_TAG}``
and every node pulls on deploy. Nodes trust it as an insecure (HTTP) registry
at an address inside the private cluster subnet (docs/architecture.md says why
not TLS). A user's own registry or Docker Hub: set STACKLAB_REGISTRY.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from stacklab.cluster import images
from stacklab.cluster.shell import REPO, cache_dir, cache_lock, docker, log, need_tool, out, run
from stacklab.core.errors import UserError

PORT = 5000
STACK = "stacklab-registry"
STACK_FILE = REPO / "swarm" / "registry.yml"
# the local cluster's registry keeps its storage in the host's cache (a named
# volume bound there): the next `cluster up` finds the wheels layers pushed before
LOCAL_OVERLAY = REPO / "swarm" / "registry.local.yml"
LOCAL_DATA = "local"
PACKAGE = "docker-registry"


def registry_package() -> Path:
    """Debian's docker-registry .deb, unpacked on the host (cached): the image's only input."""
    root = cache_dir("debs", PACKAGE)
    with cache_lock(PACKAGE):
        if not (root / "usr" / "bin" / "docker-registry").exists():
            _download_package(root)
    return root


def _download_package(root: Path) -> None:
    need_tool("apt-get", "run on Debian/Ubuntu, or set STACKLAB_REGISTRY to a registry you run")
    tmp = cache_dir("debs", "download")
    for old in tmp.glob("*.deb"):
        old.unlink()
    # apt-get download writes into the current directory
    fetch = ["sh", "-c", f'cd "$0" && apt-get download -qq {PACKAGE}', str(tmp)]
    if run(fetch, check=False, timeout=300).returncode != 0:
        run(["apt-get", "update", "-qq"], timeout=600)
        run(fetch, timeout=300)
    deb = next(tmp.glob(f"{PACKAGE}_*.deb"))
    run(["dpkg-deb", "-x", str(deb), str(root)])
    (root / "version").write_text(deb.name + "\n")


def registry_image(host: str | None, base: str) -> str:
    """stacklab-registry:<key> on the manager's daemon (it cannot come from itself)."""
    package = registry_package()
    dockerfile = images.DOCKER_DIR / "Dockerfile.registry"
    config = images.DOCKER_DIR / "registry.yml"
    base_ref = images.base_image(host, base)
    ref = "stacklab-registry:" + images._digest(
        base_ref, (package / "version").read_text(), dockerfile.read_bytes(), config.read_bytes())
    if not images.has_image(host, ref):
        context = cache_dir("context") / "registry"
        shutil.rmtree(context, ignore_errors=True)
        (context / "usr" / "bin").mkdir(parents=True)
        shutil.copy2(package / "usr" / "bin" / "docker-registry", context / "usr" / "bin")
        shutil.copy2(config, context / "registry.yml")
        images._build(host, context, dockerfile, ref, {"BASE_IMAGE": base_ref})
        shutil.rmtree(context, ignore_errors=True)
    return ref


def up(host: str | None, base: str = "local", data_dir: str | None = None,
       timeout: float = 120) -> None:
    """Deploy the registry stack on the manager and wait until it answers."""
    ref = registry_image(host, base)
    env = {"STACKLAB_REGISTRY_IMAGE": ref}
    files = [STACK_FILE]
    if data_dir == LOCAL_DATA:
        env["STACKLAB_REGISTRY_DATA"] = str(cache_dir("registry"))
        files.append(LOCAL_OVERLAY)
    # --resolve-image never for this stack alone: its image is on the manager's
    # daemon (built there), the one image no registry can serve yet
    cmd = docker(host, "stack", "deploy", "--resolve-image", "never")
    for path in files:
        cmd += ["-c", str(path)]
    run([*cmd, STACK], env=env, timeout=300)
    wait_ready(host, timeout)


def registry_container(host: str | None) -> str | None:
    """The running registry task's container on the manager, if any."""
    ids = out(docker(host, "ps", "-q", "--filter",
                     f"label=com.docker.swarm.service.name={STACK}_registry")).split()
    return ids[0] if ids else None


def wait_ready(host: str | None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    probe = ("import urllib.request as u; "
             f"u.urlopen('http://127.0.0.1:{PORT}/v2/', timeout=3).read()")
    while time.monotonic() < deadline:
        cid = registry_container(host)
        if cid and run(docker(host, "exec", cid, "python3", "-c", probe),
                       check=False).returncode == 0:
            return
        time.sleep(1)
    raise UserError(f"the registry did not answer on :{PORT} within {timeout:.0f} s: "
                    f"see `docker service ps {STACK}_registry` on the manager")


# ---------------------------------------------------------------- push
def pushed_file() -> Path:
    return cache_dir() / "pushed.json"


def pushed_tags() -> dict[str, str]:
    """registry -> the tag last pushed there from this machine."""
    try:
        return json.loads(pushed_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def last_pushed(registry: str) -> str | None:
    """The tag last pushed to ``registry`` from this machine."""
    return pushed_tags().get(registry)


def push(host: str | None, tag: str, registry: str,
         roles: tuple[str, ...] = images.ROLES) -> float:
    """Tag and push the role images; layers the registry has are not sent again. Seconds."""
    start = time.monotonic()
    for role in roles:
        local_ref, remote = images.role_image(role, tag), images.role_image(role, tag, registry)
        run(docker(host, "tag", local_ref, remote))
        proc = run(docker(host, "push", "-q", remote), check=False, timeout=3600)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise UserError(f"push of {remote} failed: {last} (is the registry up, and does "
                            f"this daemon trust it? insecure-registries: docs/architecture.md)")
    pushed = pushed_tags()
    pushed[registry] = tag
    pushed_file().write_text(json.dumps(pushed, indent=2) + "\n")
    drop_old_remote_tags(host, registry, tag)
    return time.monotonic() - start


def drop_old_remote_tags(host: str | None, registry: str, tag: str) -> None:
    """Untag older ``<registry>/stacklab-<role>`` refs on the building daemon (the
    registry keeps them; only this daemon's disk is freed)."""
    refs = out(docker(host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}")).split()
    prefix = f"{registry}/stacklab-"
    stale = [r for r in refs if r.startswith(prefix) and not r.endswith(f":{tag}")
             and r[len(prefix):].split(":")[0] in images.ROLES]
    if stale:
        run(docker(host, "rmi", *stale), check=False)


def build_and_push(host: str | None, base: str, registry: str,
                   extra: dict[str, str] | None = None) -> str:
    """Role images built on ``host`` (wheels layers from/to the registry) and pushed; the tag."""
    tag = images.build(host, base, registry=registry, extra=extra)
    seconds = push(host, tag, registry)
    log(f"pushed stacklab-{{{','.join(images.ROLES)}}}:{tag} to {registry} in {seconds:.0f} s")
    return tag


def check_available(host: str | None, refs: list[str]) -> None:
    """Every image a stack names must be in its registry, else one line naming it.

    The manager's daemon pulls each (it trusts the registry as the nodes do; an
    image it already has costs one manifest request): `docker stack deploy`
    itself only warns and leaves each node failing with "No such image".
    """
    for ref in dict.fromkeys(refs):
        proc = run(docker(host, "pull", "-q", ref), check=False, timeout=3600)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise UserError(f"image {ref} cannot be pulled ({reason.split(': ')[-1]}): "
                            "push it with `stacklab images push`, or set STACKLAB_TAG to a "
                            "pushed tag")


def address() -> str | None:
    """STACKLAB_REGISTRY, else the local cluster's registry, else None."""
    from stacklab.cluster import local

    state = local.load_state() or {}
    return os.environ.get("STACKLAB_REGISTRY") or state.get("registry")



MANIFEST_PROBE = """
import json, sys, urllib.request
port, repo, tag = sys.argv[1:4]
req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/{repo}/manifests/{tag}",
    headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
doc = json.load(urllib.request.urlopen(req, timeout=10))
print(json.dumps({b["digest"]: b["size"] for b in [doc["config"], *doc["layers"]]}))
"""


def manifest_layers(host: str | None, repo: str, tag: str) -> dict[str, int]:
    """Compressed blob sizes (config + layers) of one image in the cluster's registry."""
    cid = registry_container(host)
    if not cid:
        raise UserError("no registry running on the manager: run `stacklab images registry`")
    return json.loads(out(docker(host, "exec", cid, "python3", "-c", MANIFEST_PROBE, str(PORT),
                                 repo, tag)))
