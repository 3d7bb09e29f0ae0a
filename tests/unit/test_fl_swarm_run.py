"""`fl swarm-run` starts the session only once the API answers at its service name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stacklab.cluster import deploy, shell
from stacklab.core.errors import UserError
from stacklab.federated.swarm import run as swarmrun


@pytest.fixture
def fake_controller(monkeypatch):
    """One controller container that is healthy; the name probe fails `misses` times, then answers."""
    state = {"misses": 2, "probes": 0, "health": "healthy", "stale_polls": 0}

    def run(cmd, check=True, **_):
        if "inspect" in cmd:
            return SimpleNamespace(returncode=0, stdout=state["health"] + "\n")
        assert "exec" in cmd and "http://controller:8092/health" in cmd[-1]
        state["probes"] += 1
        return SimpleNamespace(returncode=0 if state["probes"] > state["misses"] else 1, stdout="")

    def stale_tasks(part):
        state["stale_polls"] -= 1
        return ["controller", "client"] if state["stale_polls"] >= 0 else []

    monkeypatch.setattr(deploy, "service_containers", lambda part, service: [("tcp://node1", "cid1")])
    monkeypatch.setattr(deploy, "stale_tasks", stale_tasks)
    monkeypatch.setattr(shell, "run", run)
    monkeypatch.setattr(swarmrun.time, "sleep", lambda s: None)
    return state


def test_waits_until_the_name_answers(fake_controller, capsys):
    assert swarmrun.controller(timeout=60) == ("tcp://node1", "cid1")
    assert fake_controller["probes"] == 3
    assert "healthy, not yet answering as controller" in capsys.readouterr().out


def test_never_answering_is_one_clear_error(fake_controller, monkeypatch):
    fake_controller["misses"] = 10**9
    clock = iter(range(0, 10**6, 50))
    monkeypatch.setattr(swarmrun.time, "monotonic", lambda: next(clock))
    with pytest.raises(UserError, match=r"not ready after 60 s \(healthy, not yet answering as controller\)"):
        swarmrun.controller(timeout=60)


def test_a_rolling_update_is_waited_out_before_the_old_controller_is_used(fake_controller, capsys):
    """Right after a re-deploy the old controller still answers; a session in it gets killed."""
    fake_controller.update(stale_polls=3, misses=0)
    assert swarmrun.controller(timeout=60) == ("tcp://node1", "cid1")
    assert fake_controller["probes"] == 1            # never probed while the update rolled
    assert "update rolling: controller, client still on the old image" in capsys.readouterr().out
