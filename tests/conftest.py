"""Fixtures and helpers shared by every test directory."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
STACKLAB = [sys.executable, "-m", "stacklab.cli"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run `stacklab ARGS` in a subprocess, as a user would."""
    proc = subprocess.run(
        [*STACKLAB, *map(str, args)], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"stacklab {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The house rule for bad input: non-zero exit, one clear error line, no traceback."""
    assert proc.returncode != 0, f"expected failure, got 0:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stacklab: error:")]
    assert len(errors) == 1, f"expected exactly one error line, got:\n{proc.stderr}"
    for fragment in fragments:
        assert fragment.lower() in errors[0].lower(), f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance (2 CPUs) for every in-process Ray test of the session."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def small_covtype(tmp_path: Path) -> Path:
    """A small Kaggle-layout train.csv (the offline stand-in's schema)."""
    from stacklab.data.covtype import make_stand_in, write_kaggle_csv

    return write_kaggle_csv(make_stand_in(rows_per_class=60, seed=3), tmp_path / "train.csv")


def accuracy_of(model, X: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(X) == y).mean())


def hold_session_lock(path: Path, what: str):
    """An exclusive lock held for a test session's life (the open file): a second session on
    the same machine waits here instead of tearing down the cluster or VMs under the first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nwaiting for another {what} test session ({path})", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock
