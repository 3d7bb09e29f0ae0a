"""Running external tools (docker, ip, iptables, ...) with one-line errors, and where the kit lives
(REPO: the checkout holding the stack files, docker/, cloud-cfg.txt; see stacklab.core.kit)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from stacklab.core import kit
from stacklab.core.errors import UserError

REPO = kit.root()


def log(msg: str) -> None:
    print(f"stacklab: {msg}", file=sys.stderr, flush=True)


def cache_dir(*parts: str) -> Path:
    """A folder under the kit's cache ($STACKLAB_CACHE, default ~/.cache/stacklab), created."""
    root = Path(os.environ.get("STACKLAB_CACHE", Path.home() / ".cache" / "stacklab"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock on one cache entry: a second builder of the same entry
    (the test session beside `stacklab cache warm`, or two sessions) waits, then
    finds it built."""
    with open(cache_dir("locks") / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def docker(host: str | None, *args: str) -> list[str]:
    """A docker CLI command line for one daemon (None: the caller's DOCKER_HOST/default)."""
    return ["docker", *(["-H", host] if host else []), *args]


def need_tool(name: str, hint: str) -> str:
    """Absolute path of ``name`` on PATH, else a UserError that says how to get it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise UserError(f"{name} is not installed: {hint}")
    return path


def run(cmd: Sequence[str], *, check: bool = True, input: str | bytes | None = None,
        env: dict[str, str] | None = None, capture: bool = True,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run cmd; on failure raise UserError with the tool's last stderr line."""
    full_env = None if env is None else {**os.environ, **env}
    text = not isinstance(input, bytes)
    try:
        proc = subprocess.run(list(cmd), input=input, env=full_env, text=text, timeout=timeout,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError:
        raise UserError(f"{cmd[0]} is not installed: run scripts/system-deps.sh") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"`{' '.join(cmd[:4])} ...` took longer than {timeout:.0f} s: "
                        "check the daemon's log") from None
    if check and proc.returncode != 0:
        err = proc.stderr if capture else ""
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
        last = (err or "").strip().splitlines()[-1:] or ["(no output)"]
        raise UserError(f"`{' '.join(cmd[:5])}` failed (exit {proc.returncode}): {last[0]}")
    return proc


def out(cmd: Sequence[str], **kwargs) -> str:
    """stdout of a command that must succeed, stripped."""
    return run(cmd, **kwargs).stdout.strip()
