"""`stacklab train` and ray_train/train.py refuse bad input in one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "stacklab.cli", "train"]


def _check_one_line_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "/nonexistent/mnist"], "does not exist"),
        (["--workers", "0"], "--workers"),
        (["--epochs", "two"], "--epochs"),
        (["--lr", "-0.1"], "--lr"),
        (["--cpus-per-worker", "0"], "--cpus-per-worker"),
    ],
)
def test_bad_arguments(tmp_path, args, expected):
    proc = subprocess.run([*CLI, *args, "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    _check_one_line_error(proc, expected)


def test_truncated_idx_file(tmp_path):
    import numpy as np

    from stacklab.data import mnist

    for split in ("train", "test"):
        images, labels = mnist.FILES[split]
        mnist.write_idx(tmp_path / images, np.zeros((20, 28, 28), np.uint8))
        mnist.write_idx(tmp_path / labels, np.zeros(20, np.uint8))
    broken = tmp_path / mnist.FILES["train"][0]
    broken.write_bytes(broken.read_bytes()[:1000])
    proc = subprocess.run([*CLI, "--data", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    _check_one_line_error(proc, "truncated")


def test_resume_without_earlier_run(tmp_path):
    proc = subprocess.run([*CLI, "--resume", "--data", "standin", "--smoke-test",
                           "--storage", str(tmp_path / "s"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    # The stand-in NOTE line is expected on stderr; the error is the last line.
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("stacklab: error: --resume: no earlier run")


@pytest.mark.parametrize("cwd", [REPO, REPO / "ray_train"])
def test_thin_entry_script(cwd):
    proc = subprocess.run([sys.executable, str(REPO / "ray_train" / "train.py"), "--workers", "-3"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)
    _check_one_line_error(proc, "--workers")
