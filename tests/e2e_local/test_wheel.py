"""The package runs from an installed wheel, away from any checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig

import pytest

from tests.conftest import REPO, run_cli


@pytest.mark.slow
def test_wheel_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("stacklab-*.whl"))
    venv = tmp_path / "venv"
    base = sys._base_executable  # a fresh venv of the same Python, without the dev venv's editable install
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([venv / "bin" / "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    away = tmp_path / "elsewhere"
    shutil.copytree(REPO / "docs", away / "docs", ignore=shutil.ignore_patterns("templates"))
    # the dependencies come from the dev venv (PYTHONPATH does not run its .pth files,
    # so its editable stacklab stays out of sight)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": sysconfig.get_paths()["purelib"], "HOME": str(tmp_path)}

    def stacklab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([venv / "bin" / "stacklab", *args], cwd=away, env=env, capture_output=True,
                              text=True, timeout=300)

    where = subprocess.run([venv / "bin" / "python", "-c", "import stacklab; print(stacklab.__file__)"],
                           cwd=away, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv))
    assert "baseline" in stacklab("--help").stdout
    proc = stacklab("report", "--stored", "--docs", str(away / "docs"))
    assert proc.returncode == 0, proc.stderr
    # the same pages as the checkout renders from the same data
    here = tmp_path / "checkout-render"
    shutil.copytree(REPO / "docs", here, ignore=shutil.ignore_patterns("templates"))
    run_cli("report", "--stored", "--docs", str(here), check=True)
    for page in ("results.md", "answers.md"):
        assert (away / "docs" / page).read_text() == (here / page).read_text(), page
