"""The kit's role images, built offline as chains of shared layers.

    base (debootstrap bookworm) -> common (venv: the wheels every role imports)
        -> torch (CPU 2.13) -> ray    (Ray head/workers, tuning baseline)
                            -> fedn   (FEDn controller, combiner, clients, dashboard)
        -> s3     (SeaweedFS: the stacks' shared storage)
    postgres base (bookworm + postgresql-15) -> common  (FEDn's statestore)

Each role image is ``stacklab-<role>:<tag>`` = its wheels image + the kit layer
(docker/Dockerfile.kit: the stacklab package, the parts' entry scripts, the
MNIST data cache): a code change moves only that few-MB layer. No image has
pytest or ruff (requirements/dev.txt is the venv's alone).
Caches (``$STACKLAB_CACHE``, default ~/.cache/stacklab), each keyed by its inputs:
  wheelhouse/<key>/    ``pip download`` on the host (the host pip finds the CPU torch)
  base/<key>.tar       a Debian bookworm rootfs made with debootstrap (no registry needed)
Images reach the nodes through a registry (stacklab.cluster.registry), never
by ``docker save | docker load``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stacklab.cluster.shell import REPO, cache_dir, cache_lock, docker, log, need_tool, out, run
from stacklab.core.errors import UserError
from stacklab.parts import stack_dirs

DOCKER_DIR = REPO / "docker"
REQUIREMENTS_DIR = REPO / "requirements"
UPSTREAM_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "stacklab-base:bookworm"
# python3 of bookworm is 3.11: the host's cp311 wheels (and the CPU torch) fit it.
DEBOOTSTRAP_PACKAGES = {
    "base": "python3,python3-venv,ca-certificates,procps",
    # PostgreSQL 15 (Debian's, as on the host): only the postgres role image has it
    "base-postgres": "python3,python3-venv,ca-certificates,procps,postgresql-15",
}
DEBIAN_MIRROR = os.environ.get("STACKLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What goes into the kit image next to the package: the parts' thin entry scripts.
KIT_DIRS = ["stacklab", *stack_dirs()]
KIT_SKIP = {"__pycache__", "results", ".pytest_cache", "package"}
# Where the kit layer carries the host's data cache (real MNIST subset): the
# containers' $STACKLAB_CACHE (docker/Dockerfile.kit), so stacklab.data finds it.
KIT_CACHE = "cache"
TORCH = "torch==2.13.0"  # pinned CPU wheel; the wheelhouse holds no other torch


@dataclass(frozen=True)
class Layer:
    """One wheels image: ``pip install <pip_args>`` on top of ``parent``."""
    name: str
    parent: str      # another layer's name, or a base flavour ("base", "base-postgres")
    pip_args: str


LAYERS = {layer.name: layer for layer in (
    Layer("common", "base", "-r /requirements/common.txt"),
    Layer("torch", "common", TORCH),
    Layer("ray", "torch", "-r /requirements/ray.txt"),
    Layer("fedn", "torch", "-r /requirements/fedn.txt"),
    Layer("s3", "common", "-r /requirements/s3.txt"),
    # the postgres role checks its server with psycopg2 (the version fedn.txt pins:
    # the only one in the wheelhouse)
    Layer("postgres", "base-postgres", "-r /requirements/common.txt psycopg2-binary"),
)}
# The role images the stacks run (image: <registry>/stacklab-<role>:<tag>).
ROLES = ("ray", "fedn", "s3", "postgres")
# requirements/*.txt that images install (dev.txt is not one of them)
IMAGE_REQUIREMENTS = ("common.txt", "ray.txt", "fedn.txt", "s3.txt")


def _digest(*chunks: bytes | str) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk.encode() if isinstance(chunk, str) else chunk)
        h.update(b"\0")
    return h.hexdigest()[:12]


def has_image(host: str | None, ref: str) -> bool:
    return run(docker(host, "image", "inspect", ref), check=False).returncode == 0


def image_size(host: str | None, ref: str) -> int:
    return int(out(docker(host, "image", "inspect", "-f", "{{.Size}}", ref)))


def role_image(role: str, tag: str, registry: str = "") -> str:
    return f"{registry.rstrip('/') + '/' if registry else ''}stacklab-{role}:{tag}"


# ---------------------------------------------------------------- wheelhouse
def requirements_text() -> str:
    return "".join(f"## {name}\n" + (REQUIREMENTS_DIR / name).read_text()
                   for name in IMAGE_REQUIREMENTS)


def wheelhouse() -> Path:
    """Every wheel the images need, downloaded once on the host (keyed by requirements)."""
    key = _digest(requirements_text(), TORCH, sys.version_info[:2].__repr__())
    target = cache_dir("wheelhouse") / key
    with cache_lock(f"wheelhouse-{key}"):
        if not (target / ".complete").exists():
            _download_wheels(target, key)
    return target


def _download_wheels(target: Path, key: str) -> None:
    tmp = target.with_name(key + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"downloading the images' wheels into {target} (once; ~30 s, ~500 MB)")
    tmp.mkdir(parents=True)
    reqs = [arg for name in IMAGE_REQUIREMENTS for arg in ("-r", str(REQUIREMENTS_DIR / name))]
    # --only-binary: no sdist may need a compiler inside the image.
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(tmp),
         TORCH, *reqs], timeout=1800)
    bad = [p.name for p in tmp.glob("nvidia_*")] + [p.name for p in tmp.glob("torch-*")
                                                     if "+cpu" not in p.name]
    if bad:
        raise UserError(f"the wheelhouse got CUDA wheels {bad[:3]}: make pip find the CPU "
                        "torch 2.13.0 wheel (e.g. PIP_FIND_LINKS) and retry")
    (tmp / ".complete").write_text(key + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


# ---------------------------------------------------------------- base images
def base_tar_key(flavour: str) -> str:
    return _digest(DEBOOTSTRAP_PACKAGES[flavour], DEBIAN_MIRROR, "bookworm", "minbase")


def local_base_tar(flavour: str = "base") -> Path:
    """A Debian bookworm rootfs tarball made with debootstrap (cached)."""
    packages = DEBOOTSTRAP_PACKAGES[flavour]
    key = base_tar_key(flavour)
    tar = cache_dir("base") / f"bookworm-{key}.tar"
    with cache_lock(f"base-{key}"):
        if not tar.exists():
            _debootstrap_tar(tar, key, flavour, packages)
    return tar


def _debootstrap_tar(tar: Path, key: str, flavour: str, packages: str) -> None:
    debootstrap = need_tool("debootstrap", "run scripts/system-deps.sh")
    rootfs = cache_dir("base") / f"rootfs-{key}"
    shutil.rmtree(rootfs, ignore_errors=True)
    log(f"making a Debian bookworm {flavour} rootfs with debootstrap in {rootfs} (once; ~1 min)")
    run([debootstrap, "--variant=minbase", f"--include={packages}", "bookworm",
         str(rootfs), DEBIAN_MIRROR], timeout=1800)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / junk).glob("*"):
            if item.is_file():
                item.unlink()
    partial = tar.with_suffix(".partial")
    run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], timeout=600)
    partial.rename(tar)
    shutil.rmtree(rootfs, ignore_errors=True)


def base_image(host: str | None, base: str, flavour: str = "base") -> str:
    """The FROM image: a registry image for real users, or the local debootstrap one."""
    if base == "upstream":
        if flavour == "base-postgres":
            raise UserError("--base upstream has no PostgreSQL base: build with --base local")
        return os.environ.get("STACKLAB_BASE_IMAGE", UPSTREAM_BASE)
    if base != "local":
        raise UserError(f"unknown base {base!r}: use --base local or --base upstream")
    tar = local_base_tar(flavour)
    # tagged by the tarball's key: a changed package list must not reuse an old base
    ref = f"{LOCAL_BASE}-{tar.stem.rsplit('-', 1)[-1]}"
    if not has_image(host, ref):
        with tar.open("rb") as handle:
            proc = subprocess.run(docker(host, "import", "-", ref), stdin=handle,
                                  capture_output=True, text=True)
        if proc.returncode:
            raise UserError(f"docker import of the base image failed: {proc.stderr.strip()}")
    return ref


# ---------------------------------------------------------------- wheels layers
def _build(host: str | None, context: Path, dockerfile: Path, tag: str, args: dict[str, str],
           ) -> None:
    cmd = docker(host, "build", "-q", "-f", str(dockerfile), "-t", tag)
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    # DOCKER_BUILDKIT=0: the Debian engine has no buildx plugin; the classic
    # builder does multi-stage builds just as well.
    run([*cmd, str(context)], env={"DOCKER_BUILDKIT": "0"}, timeout=3600)


class Builder:
    """The chain of wheels images on one daemon, each tagged by the key of its inputs.

    With a registry, a missing wheels image is pulled from it when there (a new
    local cluster's manager starts empty; the registry's storage outlives it),
    else built here and pushed, so the role images' shared layers are there too.
    """

    def __init__(self, host: str | None, base: str = "local", registry: str = "") -> None:
        self.host, self.base, self.registry = host, base, registry
        self._context: Path | None = None

    def key(self, name: str) -> str:
        layer = LAYERS[name]
        parent = self.key(layer.parent) if layer.parent in LAYERS else self.base_key(layer.parent)
        return _digest(parent, (DOCKER_DIR / "Dockerfile.wheels").read_bytes(), layer.pip_args,
                       requirements_text())

    def base_key(self, flavour: str) -> str:
        if self.base == "local":
            return base_tar_key(flavour)
        return os.environ.get("STACKLAB_BASE_IMAGE", UPSTREAM_BASE)

    def ref(self, name: str) -> str:
        return f"stacklab-deps-{name}:{self.key(name)}"

    def context(self) -> Path:
        """One build context for every layer: the wheelhouse (hard links) + requirements/."""
        if self._context is None:
            wheels = wheelhouse()
            context = cache_dir("context") / "wheels"
            shutil.rmtree(context, ignore_errors=True)
            context.mkdir(parents=True)
            run(["cp", "-al", str(wheels), str(context / "wheelhouse")])
            shutil.copytree(REQUIREMENTS_DIR, context / "requirements")
            self._context = context
        return self._context

    def layer(self, name: str) -> str:
        """stacklab-deps-<name>:<key> on the daemon: present, pulled, or built (and pushed)."""
        ref = self.ref(name)
        if has_image(self.host, ref):
            return ref
        remote = f"{self.registry}/{ref}"
        if self.registry and run(docker(self.host, "pull", "-q", remote), check=False,
                                 timeout=1800).returncode == 0:
            run(docker(self.host, "tag", remote, ref))
            return ref
        layer = LAYERS[name]
        parent = (self.layer(layer.parent) if layer.parent in LAYERS
                  else base_image(self.host, self.base, layer.parent))
        log(f"building {ref} on {parent} (pip install {layer.pip_args}, offline)")
        start = time.monotonic()
        _build(self.host, self.context(), DOCKER_DIR / "Dockerfile.wheels", ref,
               {"PARENT": parent, "PIP_ARGS": layer.pip_args})
        log(f"built {ref} in {time.monotonic() - start:.0f} s, "
            f"{image_size(self.host, ref) / 1e9:.2f} GB")
        # the install stage (wheelhouse + venv) is not needed once the image exists
        run(docker(self.host, "image", "prune", "-f", "--filter", "label=stacklab.stage=install"),
            check=False)
        if self.registry:
            run(docker(self.host, "tag", ref, remote))
            run(docker(self.host, "push", "-q", remote), timeout=3600)
        return ref

    def done(self) -> None:
        if self._context is not None:
            shutil.rmtree(self._context, ignore_errors=True)


# ---------------------------------------------------------------- kit layer
def kit_files() -> list[Path]:
    files = [REPO / "pyproject.toml"]
    for name in KIT_DIRS:
        root = REPO / name
        if root.is_dir():
            files += sorted(p for p in root.rglob("*") if p.is_file()
                            and not KIT_SKIP.intersection(p.relative_to(REPO).parts)
                            and p.suffix not in {".pyc", ".tar", ".gz"})
    return files


def data_files() -> dict[Path, str]:
    """Host data-cache files the kit layer carries: the real MNIST subset, if converted."""
    try:
        from stacklab.data.mnist import real_subset_dir
        directory = real_subset_dir(fetch=False)
    except (ImportError, TypeError):
        return {}
    if directory is None:
        return {}
    root = Path(os.environ.get("STACKLAB_CACHE", Path.home() / ".cache" / "stacklab"))
    return {p: f"{KIT_CACHE}/{p.relative_to(root)}" for p in sorted(Path(directory).iterdir())
            if p.is_file()}


def kit_tag(deps: dict[str, str], extra: dict[str, str] | None = None) -> str:
    """The role images' tag: a digest of the wheels images' keys and every kit file."""
    parts: list[bytes | str] = [(DOCKER_DIR / "Dockerfile.kit").read_bytes()]
    parts += [f"{name}={text}" for name, text in sorted((extra or {}).items())]
    parts += [f"{role}={ref}" for role, ref in sorted(deps.items())]
    for path in kit_files():
        parts += [str(path.relative_to(REPO)), path.read_bytes()]
    for path, dest in data_files().items():
        parts += [dest, path.read_bytes()]
    return _digest(*parts)


def _kit_context(extra: dict[str, str] | None = None) -> Path:
    context = cache_dir("context") / "kit"
    shutil.rmtree(context, ignore_errors=True)
    for rel, text in (extra or {}).items():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(text)
    for path in kit_files():
        dest = context / path.relative_to(REPO)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    for path, rel in data_files().items():
        dest = context / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    (context / KIT_CACHE).mkdir(exist_ok=True)
    return context


def build(host: str | None, base: str = "local", roles: tuple[str, ...] = ROLES,
          registry: str = "", extra: dict[str, str] | None = None) -> str:
    """Every role image ``stacklab-<role>:<tag>`` on one daemon; returns the tag.

    With ``registry``, wheels images are pulled from it when there and pushed
    to it when built here (the role images themselves: stacklab.cluster.registry).
    ``extra``: more files for the kit layer (path -> text), e.g. a bench's code change.
    """
    need_tool("docker", "run scripts/system-deps.sh")
    builder = Builder(host, base, registry)
    deps = {role: builder.ref(role) for role in roles}
    tag = kit_tag(deps, extra)
    missing = [role for role in roles if not has_image(host, role_image(role, tag))]
    if missing:
        try:
            for role in missing:
                builder.layer(role)
        finally:
            builder.done()
        context = _kit_context(extra)
        try:
            for role in missing:
                _build(host, context, DOCKER_DIR / "Dockerfile.kit", role_image(role, tag),
                       {"DEPS_IMAGE": deps[role]})
        finally:
            shutil.rmtree(context, ignore_errors=True)
    drop_stale(host, keep={role_image(r, tag) for r in roles})
    return tag


def drop_stale(host: str | None, keep: set[str]) -> None:
    """Remove older kit images from a daemon; the wheels images stay (keyed, reused)."""
    refs = out(docker(host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                      "--filter", "reference=stacklab-*")).split()
    kit_repos = {f"stacklab-{role}" for role in ROLES}
    stale = [r for r in refs if r not in keep and r.split(":")[0] in kit_repos]
    if stale:
        run(docker(host, "rmi", *stale), check=False)
