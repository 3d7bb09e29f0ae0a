"""deploy.wait_ray_nodes: the Ray node count is read in the head, and a replaced head does not end the wait."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from stacklab.cluster import deploy
from stacklab.core.errors import UserError


@pytest.fixture()
def heads(monkeypatch):
    """Heads that Swarm replaces: each answers (rc, stdout) from a script, in order."""
    script: list[tuple[int, str]] = []
    seen: list[str] = []
    ids = (f"head{i}" for i in itertools.count(1))
    monkeypatch.setattr(deploy, "manager", lambda: "unix:///fake.sock")
    monkeypatch.setattr(deploy, "head_container", lambda part, timeout=300: next(ids))
    monkeypatch.setattr(deploy.time, "sleep", lambda s: None)

    def run(cmd, check=False, timeout=None, **kw):
        seen.append(cmd[cmd.index("exec") + 1])
        code, stdout = script.pop(0)
        return SimpleNamespace(returncode=code, stdout=stdout, stderr="")
    monkeypatch.setattr(deploy, "run", run)
    return script, seen


def test_a_head_replaced_mid_wait_hands_over_to_the_next(heads):
    script, seen = heads
    script += [(137, ""), (1, '["10.0.0.2"]'), (0, '["10.0.0.2", "10.0.0.3", "10.0.0.4"]')]
    assert deploy.wait_ray_nodes("ray_tuning", 3, timeout=600) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert seen == ["head1", "head2", "head3"]


def test_running_out_of_time_names_the_last_count(heads, monkeypatch):
    script, _ = heads
    script += [(1, '["10.0.0.2"]')]
    clock = itertools.chain([0.0, 0.0, 0.0], itertools.repeat(700.0))  # the exec ends past the deadline
    monkeypatch.setattr(deploy.time, "monotonic", lambda: next(clock))
    with pytest.raises(UserError, match=r"only 1 of 3 Ray nodes of ray_tuning came up in 600 s"):
        deploy.wait_ray_nodes("ray_tuning", 3, timeout=600)
