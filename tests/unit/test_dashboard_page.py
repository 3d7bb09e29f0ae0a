"""The dashboard page in headless Chromium, from a document made here (the FL e2e test uses a real session)."""

from __future__ import annotations

import json

import pytest

from stacklab.core.errors import UserError
from stacklab.federated.dashboard.server import page, with_data
from stacklab.federated.dashboard.snapshot import SIZE, capture_page, png_size


def _document() -> dict:
    rounds = [{"round": n, "fedn_round": 40 + n, "status": "Finished", "model_id": f"model{n}aaaa", "started": None,
               "seconds": 3.0, "accuracy": {"alpha": 0.5 + n / 10, "beta": 0.45 + n / 10},
               "mean_accuracy": 0.475 + n / 10, "global_accuracy": 0.401 + n / 10, "reduce_seconds": 0.01}
              for n in (1, 2, 3)]
    return {"ok": True, "api": "http://fedn.example:8092", "data_source": "made in the test </script>",
            "sessions": [{"id": "sess-1234-5678", "name": "made-session", "status": "Finished", "rounds": 3}],
            "clients": [{"name": n, "status": "online", "last_seen": None, "combiner": "combinerX", "id": n}
                        for n in ("alpha", "beta")],
            "combiners": [{"name": "combinerX", "address": "10.0.0.1", "port": 12080}], "clients_online": 2,
            "session": {"id": "sess-1234-5678", "name": "made-session", "status": "Finished", "config": {},
                        "rounds_requested": 3, "rounds_finished": 3, "test_set_size": 777, "rounds": rounds,
                        "lineage": [{"model_id": r["model_id"], "parent": None, "committed_at": None} for r in rounds]}}


def test_a_saved_page_renders_its_data_and_is_captured(tmp_path):
    doc = _document()
    meta = capture_page(with_data(page(), doc).decode(), tmp_path, source="test")
    assert png_size(tmp_path / "dashboard.png") == SIZE and meta["size"] == list(SIZE)
    assert meta["session_name"] == "made-session" and meta["clients"] == ["alpha", "beta"]
    assert meta["rounds_finished"] == 3 and json.loads((tmp_path / "dashboard.json").read_text()) == meta
    html = (tmp_path / "dashboard.html").read_text()
    for text in ('id="s-rounds">3 / 3<', 'id="s-online">2 / 2<', 'id="s-global">0.701<', "<td>alpha</td>",
                 "<td>combinerX</td>", "777 images", "made in the test &lt;/script&gt;", "<td>43</td>"):
        assert text in html, text
    assert '<span id="apistatus" class="ok">API reachable</span>' in html  # a saved copy does not poll


def test_a_page_without_data_is_refused(tmp_path):
    with pytest.raises(UserError, match="carries no dashboard data"):
        capture_page(page().decode(), tmp_path, source="test")
    broken = _document() | {"ok": False, "error": "API down"}
    with pytest.raises(UserError, match="API down"):
        capture_page(with_data(page(), broken).decode(), tmp_path, source="test")
    assert not (tmp_path / "dashboard.png").exists()


def test_swarm_run_captures_the_stacks_dashboard_page(tmp_path, monkeypatch):
    """swarm-run fetches the page inside the dashboard container (docker exec) and captures it here."""
    import subprocess

    from stacklab.cluster import deploy, shell
    from stacklab.federated.swarm import run as swarm

    calls = []

    def fake_run(cmd, **_):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=with_data(page(), _document()).decode(), stderr="")

    monkeypatch.setattr(deploy, "service_containers", lambda part, service: [("unix:///node1.sock", "cid9")])
    monkeypatch.setattr(shell, "run", fake_run)
    meta = swarm.dashboard_snapshot(tmp_path, "sess-1234-5678")
    assert meta and meta["session_name"] == "made-session" and png_size(tmp_path / "dashboard.png") == SIZE
    assert calls[0][:5] == ["docker", "-H", "unix:///node1.sock", "exec", "cid9"]
    assert "?session=sess-1234-5678" in calls[0][-1]
    monkeypatch.setattr(deploy, "service_containers", lambda part, service: [])
    assert swarm.dashboard_snapshot(tmp_path / "none", "s") is None
