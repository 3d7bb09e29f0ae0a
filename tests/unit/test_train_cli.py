"""`stacklab train` and ray_train/train.py refuse bad input in one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stacklab.data import mnist
from tests.conftest import REPO, assert_one_line_error, run_cli


def test_bad_data_directory(tmp_path):
    proc = run_cli("train", "--data", tmp_path / "nonexistent", "--out", tmp_path, timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "does not exist")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workers", "0"], "--workers"),
        (["--epochs", "two"], "--epochs"),
        (["--lr", "-0.1"], "--lr"),
        (["--cpus-per-worker", "0"], "--cpus-per-worker"),
        (["--max-failures", "-1"], "--max-failures"),
    ],
)
def test_bad_arguments(tmp_path, capsys, args, expected):
    # In-process (the subprocess path is covered above and below): same parser, same handler.
    from stacklab.cli import run

    try:
        code = run(["train", *args, "--data", "standin", "--out", str(tmp_path)])
    except SystemExit as exc:  # argparse exits on bad syntax
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stacklab: error:")]
    assert code == 2 and len(lines) == 1 and expected in lines[0] and "Traceback" not in err


def test_truncated_idx_file(tmp_path):
    for split in ("train", "test"):
        images, labels = mnist.FILES[split]
        mnist.write_idx(tmp_path / images, np.zeros((20, 28, 28), np.uint8))
        mnist.write_idx(tmp_path / labels, np.zeros(20, np.uint8))
    broken = tmp_path / mnist.FILES["train"][0]
    broken.write_bytes(broken.read_bytes()[:1000])
    proc = run_cli("train", "--data", tmp_path, "--out", tmp_path / "o", timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "truncated")


def test_resume_without_earlier_run(tmp_path):
    proc = run_cli("train", "--resume", "--data", "standin", "--smoke-test",
                   "--storage", tmp_path / "s", "--out", tmp_path / "o", timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "--resume: no earlier run")


@pytest.mark.parametrize("cwd", [REPO, REPO / "ray_train"])
def test_thin_entry_script(cwd):
    proc = subprocess.run([sys.executable, str(REPO / "ray_train" / "train.py"), "--workers", "-3"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "--workers")


def test_unreachable_cluster_fails_fast(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("train", "--smoke-test", "--data", "standin", "--address", f"127.0.0.1:{port}",
                   "--out", tmp_path, timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "cannot reach the Ray cluster")
