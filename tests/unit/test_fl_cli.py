"""`stacklab fl` bad input without a running federation: exit 2, one line, no traceback."""

from __future__ import annotations

import pytest

from stacklab.federated.config import FLConfig, save_config
from tests.conftest import assert_one_line_error, run_cli


@pytest.mark.parametrize("args, fragment", [
    (["fl", "up", "--set", "nonsense"], "is not KEY=VALUE"),
    (["fl", "up", "--set", "controler_port=1"], "unknown FL config key"),
    (["fl", "up", "--config", "/nonexistent/fl.yaml"], "does not exist"),
    (["fl", "up", "--clients", "0"], "n_clients must be >= 1"),
    (["fl", "run", "--state-dir", "/nonexistent/state"], "run `stacklab fl up` first"),
    (["fl", "down", "--state-dir", "/nonexistent/state"], None),
])
def test_bad_input(args, fragment):
    proc = run_cli(*args, timeout=120)
    if fragment is None:  # down on nothing is not an error: nothing to stop
        assert proc.returncode == 0 and "0 process(es) stopped" in proc.stdout
    else:
        assert proc.returncode == 2
        assert_one_line_error(proc, fragment)


def test_unreachable_api_and_unknown_service(tmp_path):
    cfg = FLConfig(state_dir=tmp_path, controller_port=1)  # nothing listens on port 1
    save_config(cfg)
    assert_one_line_error(run_cli("fl", "run", "--state-dir", tmp_path, timeout=120), "unreachable")
    (tmp_path / "secrets.yaml").write_text("jwt_secret: x\n")
    assert_one_line_error(run_cli("fl", "restart", "nginx", "--state-dir", tmp_path, timeout=120), "no service named")
    status = run_cli("fl", "status", "--state-dir", tmp_path, timeout=120)
    assert status.returncode == 0 and "unreachable" in status.stdout
