"""The kit's one image (ray 2.60 + fedn 0.33 + CPU torch 2.13 + stacklab), built offline.

Two images, so that a code change never rebuilds or re-ships the 2 GB of wheels:
  stacklab-deps:<key>  docker/Dockerfile: a venv from a host-side wheelhouse
                       (multi-stage: the wheels never stay in a layer);
                       key = requirements + Dockerfile + base image.
  stacklab:<key>       docker/Dockerfile.kit: deps + the stacklab package and
                       the parts' entry scripts; a few MB, built on every node.
Caches (``$STACKLAB_CACHE``, default ~/.cache/stacklab), each keyed by its inputs:
  wheelhouse/<key>/    ``pip download`` on the host (the host pip finds the CPU torch)
  base/<key>.tar       a Debian bookworm rootfs made with debootstrap (no registry needed)
  images/<tag>.tar     ``docker save`` of the deps image: loaded into new nodes as is
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stacklab.cluster.shell import REPO, cache_dir, docker, log, need_tool, out, run
from stacklab.core.errors import UserError
from stacklab.parts import stack_dirs

DOCKER_DIR = REPO / "docker"
UPSTREAM_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "stacklab-base:bookworm"
# python3 of bookworm is 3.11: the host's cp311 wheels (and the CPU torch) fit it.
# postgresql-15: the FEDn statestore of the federated stack (Debian's server, as
# on the host); upstream bases get it from apt in docker/Dockerfile instead.
DEBOOTSTRAP_PACKAGES = "python3,python3-venv,ca-certificates,procps,postgresql-15"
DEBIAN_MIRROR = os.environ.get("STACKLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What goes into the kit image next to the package: the parts' thin entry scripts.
KIT_DIRS = ["stacklab", *stack_dirs()]
KIT_SKIP = {"__pycache__", "results", ".pytest_cache", "package"}
TORCH = "torch==2.13.0"  # pinned CPU wheel; installed first so nothing pulls a CUDA build


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


# ---------------------------------------------------------------- wheelhouse
def requirements_text() -> str:
    return (REPO / "requirements.txt").read_text()


def wheelhouse() -> Path:
    """Every wheel the image needs, downloaded once on the host (keyed by requirements)."""
    key = _digest(requirements_text(), TORCH, sys.version_info[:2].__repr__())
    target = cache_dir("wheelhouse") / key
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(key + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"downloading the image's wheels into {target} (once; ~30 s, ~500 MB)")
    reqs = tmp / "requirements.txt"
    tmp.mkdir(parents=True)
    reqs.write_text(requirements_text())
    # --only-binary: no sdist may need a compiler inside the image.
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(tmp),
         TORCH, "-r", str(reqs)], timeout=1800)
    bad = [p.name for p in tmp.glob("nvidia_*")] + [p.name for p in tmp.glob("torch-*")
                                                     if "+cpu" not in p.name]
    if bad:
        raise UserError(f"the wheelhouse got CUDA wheels {bad[:3]}: make pip find the CPU "
                        "torch 2.13.0 wheel (e.g. PIP_FIND_LINKS) and retry")
    (tmp / ".complete").write_text(key + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


# ---------------------------------------------------------------- base image
def local_base_tar() -> Path:
    """A Debian bookworm rootfs tarball made with debootstrap (cached)."""
    key = _digest(DEBOOTSTRAP_PACKAGES, DEBIAN_MIRROR, "bookworm", "minbase")
    tar = cache_dir("base") / f"bookworm-{key}.tar"
    if tar.exists():
        return tar
    debootstrap = need_tool("debootstrap", "run scripts/system-deps.sh")
    rootfs = cache_dir("base") / f"rootfs-{key}"
    shutil.rmtree(rootfs, ignore_errors=True)
    log(f"making a Debian bookworm base with debootstrap in {rootfs} (once; ~1 min)")
    run([debootstrap, "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}", "bookworm",
         str(rootfs), DEBIAN_MIRROR], timeout=1800)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / junk).glob("*"):
            if item.is_file():
                item.unlink()
    partial = tar.with_suffix(".partial")
    run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], timeout=600)
    partial.rename(tar)
    shutil.rmtree(rootfs, ignore_errors=True)
    return tar


def base_image(host: str | None, base: str) -> str:
    """The FROM image: a registry image for real users, or the local debootstrap one."""
    if base == "upstream":
        return os.environ.get("STACKLAB_BASE_IMAGE", UPSTREAM_BASE)
    if base != "local":
        raise UserError(f"unknown base {base!r}: use --base local or --base upstream")
    tar = local_base_tar()
    # tagged by the tarball's key: a changed package list must not reuse an old base
    ref = f"{LOCAL_BASE}-{tar.stem.rsplit('-', 1)[-1]}"
    if not has_image(host, ref):
        with tar.open("rb") as handle:
            proc = subprocess.run(docker(host, "import", "-", ref), stdin=handle,
                                  capture_output=True, text=True)
        if proc.returncode:
            raise UserError(f"docker import of the base image failed: {proc.stderr.strip()}")
    return ref


# ---------------------------------------------------------------- images
def deps_tag(host: str | None, base: str) -> str:
    base_ref = base_image(host, base)
    base_id = out(docker(host, "image", "inspect", "-f", "{{.Id}}", base_ref)) \
        if base == "local" else base_ref
    return "stacklab-deps:" + _digest(requirements_text(), TORCH,
                                      (DOCKER_DIR / "Dockerfile").read_bytes(), base_id)


def _build(host: str | None, context: Path, dockerfile: Path, tag: str, args: dict[str, str],
           ) -> None:
    cmd = docker(host, "build", "-q", "-f", str(dockerfile), "-t", tag)
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    # DOCKER_BUILDKIT=0: the Debian engine has no buildx plugin; the classic
    # builder does multi-stage builds just as well.
    run([*cmd, str(context)], env={"DOCKER_BUILDKIT": "0"}, timeout=3600)


def ensure_deps(host: str | None, base: str) -> str:
    """stacklab-deps on this daemon: present, else loaded from the cache, else built."""
    tag = deps_tag(host, base)
    if has_image(host, tag):
        return tag
    tar = cache_dir("images") / (tag.replace(":", "-") + ".tar")
    if tar.exists():
        load_tar(host, tar)
        return tag
    wheels = wheelhouse()
    context = cache_dir("context") / "deps"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    # Hard links: the 500 MB wheelhouse goes into the context without a copy.
    run(["cp", "-al", str(wheels), str(context / "wheelhouse")])
    shutil.copy(REPO / "requirements.txt", context / "requirements.txt")
    log(f"building {tag} (wheels installed with --no-index; ~2-3 min)")
    start = time.monotonic()
    _build(host, context, DOCKER_DIR / "Dockerfile", tag,
           {"BASE_IMAGE": base_image(host, base), "TORCH": TORCH})
    log(f"built {tag} in {time.monotonic() - start:.0f} s, "
        f"{image_size(host, tag) / 1e9:.2f} GB")
    shutil.rmtree(context, ignore_errors=True)
    # the install stage (wheelhouse + venv, 3 GB) is not needed once the final image exists
    run(docker(host, "image", "prune", "-f", "--filter", "label=stacklab.stage=install"),
        check=False)
    partial = tar.with_suffix(".partial")
    run(docker(host, "save", "-o", str(partial), tag), timeout=1800)
    partial.rename(tar)
    for old in tar.parent.glob("stacklab-deps-*.tar"):
        if old != tar:
            old.unlink()  # one deps image is enough; they are 2 GB each
    return tag


def load_tar(host: str | None, tar: Path) -> None:
    log(f"loading {tar.name} into {host or 'the default daemon'}")
    run(docker(host, "load", "-q", "-i", str(tar)), timeout=1800)


def kit_files() -> list[Path]:
    files = [REPO / "pyproject.toml"]
    for name in KIT_DIRS:
        root = REPO / name
        if root.is_dir():
            files += sorted(p for p in root.rglob("*") if p.is_file()
                            and not KIT_SKIP.intersection(p.relative_to(REPO).parts)
                            and p.suffix not in {".pyc", ".tar", ".gz"})
    return files


def kit_tag(deps: str) -> str:
    files = kit_files()
    parts: list[bytes | str] = [deps, (DOCKER_DIR / "Dockerfile.kit").read_bytes()]
    for path in files:
        parts += [str(path.relative_to(REPO)), path.read_bytes()]
    return "stacklab:" + _digest(*parts)


def ensure_kit(host: str | None, deps: str, tag: str) -> str:
    """The small kit image on one daemon, built from the current source tree."""
    if not has_image(host, tag):
        context = cache_dir("context") / ("kit-" + (host or "default").replace("/", "_"))
        shutil.rmtree(context, ignore_errors=True)
        for path in kit_files():
            dest = context / path.relative_to(REPO)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        _build(host, context, DOCKER_DIR / "Dockerfile.kit", tag, {"DEPS_IMAGE": deps})
        shutil.rmtree(context, ignore_errors=True)
    run(docker(host, "tag", tag, "stacklab:latest"))
    return tag


def build(hosts: list[str | None], base: str = "local") -> str:
    """Make the kit image present on every daemon in ``hosts``; returns its tag.

    The deps image is built (or loaded) on the first daemon, then loaded into
    the others from the cached ``docker save`` tarball, two at a time.
    """
    need_tool("docker", "run scripts/system-deps.sh")
    first, rest = hosts[0], hosts[1:]
    deps = ensure_deps(first, base)
    tag = kit_tag(deps)
    tar = cache_dir("images") / (deps.replace(":", "-") + ".tar")

    def one(host: str | None) -> None:
        if not has_image(host, deps):
            if not tar.exists():
                run(docker(first, "save", "-o", str(tar), deps), timeout=1800)
            load_tar(host, tar)
        ensure_kit(host, deps, tag)

    ensure_kit(first, deps, tag)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, rest))
    for host in hosts:
        drop_stale(host, keep={deps, tag})
    return tag


def drop_stale(host: str | None, keep: set[str]) -> None:
    """Remove older stacklab images from a daemon (2.4 GB each); in-use ones stay."""
    refs = out(docker(host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                      "--filter", "reference=stacklab*")).split()
    stale = [r for r in refs if r not in keep and r.split(":")[0] in ("stacklab", "stacklab-deps")
             and not r.endswith(":latest")]
    if stale:
        run(docker(host, "rmi", *stale), check=False)
