"""Background processes with PID files: start, wait for health, stop exactly them.

Each service runs in its own session (process group), so stopping it also stops
its children (gunicorn workers, SeaweedFS sub-servers, `python train.py`
tasks). The PID file records the process start time too: a recycled PID that
now belongs to someone else is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from stacklab.core.errors import UserError


@dataclass
class Proc:
    name: str
    pid: int
    create_time: float
    log: str
    stop_signal: int = signal.SIGTERM
    ports: tuple[int, ...] = ()

    def alive(self) -> bool:
        try:
            p = psutil.Process(self.pid)
            return abs(p.create_time() - self.create_time) < 1.0 and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def pid_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "pids"


def pid_file(state_dir: Path, name: str) -> Path:
    return pid_dir(state_dir) / f"{name}.json"


def read_proc(state_dir: Path, name: str) -> Proc | None:
    path = pid_file(state_dir, name)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    data["ports"] = tuple(data.get("ports", ()))
    return Proc(**data)


def all_procs(state_dir: Path) -> list[Proc]:
    directory = pid_dir(state_dir)
    if not directory.is_dir():
        return []
    procs = [read_proc(state_dir, p.stem) for p in sorted(directory.glob("*.json"))]
    return [p for p in procs if p is not None]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def require_free(host: str, ports: dict[str, int]) -> None:
    busy = [f"{name}={port}" for name, port in ports.items() if port_in_use(host, port)]
    if busy:
        raise UserError(f"port(s) already in use on {host}: {', '.join(busy)}: stop what holds them or pick other ports in the FL config")


def start(
    state_dir: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    ports: Sequence[int] = (),
    user: str | None = None,
) -> Proc:
    """Start argv in its own session, output to <state>/logs/<name>.log, PID file written."""
    existing = read_proc(state_dir, name)
    if existing and existing.alive():
        return existing
    log_path = Path(state_dir) / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_dir(state_dir).mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(cwd) if cwd else None,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                user=user,
            )
        except FileNotFoundError:
            raise UserError(f"cannot start {name}: {argv[0]} not found: run scripts/setup.sh and scripts/system-deps.sh") from None
    proc = Proc(name, popen.pid, psutil.Process(popen.pid).create_time(), str(log_path), int(stop_signal), tuple(ports))
    pid_file(state_dir, name).write_text(json.dumps(proc.__dict__))
    return proc


def last_lines(proc: Proc, n: int = 3) -> str:
    try:
        lines = [line.strip() for line in Path(proc.log).read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return ""
    return " | ".join(lines[-n:])


def wait_until(proc: Proc, check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll check() until true; fail with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not proc.alive():
            raise UserError(f"{proc.name} exited while starting ({last_lines(proc)}): see {proc.log}")
        time.sleep(0.2)
    raise UserError(f"{proc.name} not {what} after {timeout:.0f} s ({last_lines(proc)}): see {proc.log}")


def stop(state_dir: Path, name: str, timeout: float = 15.0) -> bool:
    """Stop one recorded process and its whole group; True if something was stopped."""
    proc = read_proc(state_dir, name)
    if proc is None:
        return False
    stopped = False
    if proc.alive():
        stopped = True
        _signal_group(proc, proc.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(proc):
            time.sleep(0.1)
        if _group_alive(proc):
            _signal_group(proc, signal.SIGKILL)
            time.sleep(0.2)
    else:
        _signal_group(proc, signal.SIGKILL)  # orphans of a dead leader, if any
    pid_file(state_dir, name).unlink(missing_ok=True)
    return stopped


def _group_members(proc: Proc) -> list[psutil.Process]:
    members = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == proc.pid and p.create_time() >= proc.create_time - 1.0:
                members.append(p)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return members


def _group_alive(proc: Proc) -> bool:
    return any(m.status() != psutil.STATUS_ZOMBIE for m in _group_members(proc) if _exists(m))


def _exists(p: psutil.Process) -> bool:
    try:
        return p.is_running()
    except psutil.Error:
        return False


def _signal_group(proc: Proc, sig: int) -> None:
    if proc.alive():
        try:
            os.killpg(proc.pid, sig)  # start_new_session=True: pgid == leader pid
            return
        except (ProcessLookupError, PermissionError):
            pass
    for member in _group_members(proc):
        try:
            member.send_signal(sig)
        except psutil.Error:
            pass
