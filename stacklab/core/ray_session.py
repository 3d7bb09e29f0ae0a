"""Connecting to Ray and naming runs in Ray storage: shared by the Ray parts.

Kept apart from any one part so Ray Train and Ray Tune connect, check
capacity and resolve storage the same way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacklab.core.errors import UserError


def connect(address: str | None, num_cpus: float | None = None, runtime_env: dict | None = None) -> bool:
    """Attach to Ray: the given cluster, the one `ray job submit` set up, or a new local one.

    Returns True when this call started Ray (the caller then shuts it down).
    An already initialised Ray (tests, the lab job) is reused as it is.
    """
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": True}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    target = address or os.environ.get("RAY_ADDRESS")
    if target and target != "local":
        _probe(target)
        kwargs["address"] = target
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot reach the Ray cluster at {target}: {first}: check --address and that the head runs") from None
    return True


def _probe(target: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds on a dead HOST:PORT (ray.init itself retries for minutes)."""
    host, sep, port = target.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and friends: Ray finds the address itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(
            f"cannot reach the Ray cluster at {target} ({exc.strerror or exc}): "
            "check --address (HEAD:6379 or ray://HEAD:10001) and that the head runs"
        ) from None


def require_cpus(needed: float, what: str) -> float:
    """Fail fast (instead of pending forever) when the cluster has too few CPUs."""
    import ray

    total = float(ray.cluster_resources().get("CPU", 0))
    if total < needed:
        raise UserError(
            f"{what} needs {needed:g} CPUs but the Ray cluster has {total:g}: "
            "lower --workers/--cpus-per-worker or add nodes"
        )
    return total


def storage_root(storage: str | None, default_dir: Path) -> str:
    """A URI is used as given; a local directory is created and made absolute.

    With no --storage, $STACKLAB_STORAGE (the Ray stacks set it to their S3
    prefix) so a job submitted by hand inside a head uses the cluster's storage.
    """
    storage = storage or os.environ.get("STACKLAB_STORAGE") or None
    if storage and "://" in storage:
        return storage
    root = Path(storage) if storage else default_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create storage directory {root}: {exc.strerror}: pass --storage DIR") from None
    return str(root.resolve())


def _list_dirs(storage: str) -> list[str]:
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
        infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot list storage {storage}: {exc}: check --storage and its credentials") from None
    return [i.base_name for i in infos if i.type == pyarrow.fs.FileType.Directory]


def run_name(
    prefix: str,
    storage: str,
    name: str | None,
    resume: bool,
    resumable: Callable[[str], bool] | None = None,
) -> str:
    """The run directory name inside storage.

    A fresh run gets ``<prefix>-<UTC timestamp>`` (never an earlier run's
    directory, which Ray would silently continue); ``resume`` picks ``name`` or
    the newest ``<prefix>-*`` run for which ``resumable(dir_name)`` holds.
    """
    if name and not resume:
        return name
    if not resume:
        return f"{prefix}-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    runs = sorted(d for d in _list_dirs(storage) if (d == name if name else d.startswith(f"{prefix}-")))
    runs = [d for d in runs if resumable is None or resumable(d)]
    if not runs:
        which = f"named {name}" if name else f"{prefix}-*"
        raise UserError(f"--resume: no earlier run {which} in {storage}: run without --resume first or fix --storage")
    return runs[-1]


def exists_in_storage(storage: str, relative: str) -> bool:
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(storage)
    return fs.get_file_info(f"{path.rstrip('/')}/{relative}").type != pyarrow.fs.FileType.NotFound
