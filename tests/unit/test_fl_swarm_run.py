"""`fl swarm-run` starts the session only once the combiner is healthy and the API answers at its service name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stacklab.cluster import deploy, shell
from stacklab.errors import UserError
from stacklab.federated import swarmrun


@pytest.fixture
def fake_controller(monkeypatch):
    """One controller container that is healthy; the name probe fails `misses` times, then answers."""
    state = {"misses": 2, "probes": 0, "health": {"cid1": "healthy", "comb1": "healthy"}}

    def run(cmd, check=True, **_):
        if "inspect" in cmd:
            return SimpleNamespace(returncode=0, stdout=state["health"][cmd[-1]] + "\n")
        assert "exec" in cmd and "http://controller:8092/health" in cmd[-1]
        state["probes"] += 1
        return SimpleNamespace(returncode=0 if state["probes"] > state["misses"] else 1, stdout="")

    tasks = {"controller": [("tcp://node1", "cid1")], "combiner": [("tcp://node2", "comb1")]}
    monkeypatch.setattr(deploy, "service_containers", lambda part, service: tasks[service])
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


def test_waits_for_the_combiner_before_probing_the_api(fake_controller, monkeypatch, capsys):
    fake_controller["misses"] = 0
    combiner_states = iter(["starting", "starting", "healthy"])
    fake_run = shell.run

    def run(cmd, check=True, **kw):
        if "inspect" in cmd and cmd[-1] == "comb1":
            fake_controller["health"]["comb1"] = next(combiner_states)
        return fake_run(cmd, check, **kw)

    monkeypatch.setattr(shell, "run", run)
    assert swarmrun.controller(timeout=60) == ("tcp://node1", "cid1")
    assert fake_controller["probes"] == 1            # the API was asked only once the combiner was healthy
    assert "(healthy; combiner starting)" in capsys.readouterr().out
