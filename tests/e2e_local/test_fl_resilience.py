"""Issue #8 for the federation: R3 a client killed mid-round; R4 combiner, controller and
PostgreSQL restarted in turn. One federation (clients_required=1, short round timeout)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from stacklab.federated.api import FednApi
from tests.conftest import STACKLAB, run_cli
from tests.e2e_local.federation import local_federation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fed():
    settings = {"clients_required": 1, "round_timeout": 25, "train_per_client": 1500, "test_per_client": 200,
                "global_test": 300, "epochs": 2}
    with local_federation("stacklab-flr-", settings) as federation:
        yield {**federation, "api": FednApi(f"http://127.0.0.1:{federation['ports']['controller_port']}")}


def _max_round(api: FednApi) -> int:
    return max((int(r["round_id"]) for r in api.list("rounds", limit=1000)), default=0)


def test_r3_killed_client_session_completes_and_client_rejoins(fed):
    api, out = fed["api"], fed["root"] / "r3"
    before = _max_round(api)
    runner = subprocess.Popen([*STACKLAB, "fl", "run", "--rounds", "4", "--no-snapshot", "--state-dir", str(fed["state"]),
                               "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while _max_round(api) < before + 2 and time.monotonic() < deadline:  # round 2 of the session began
        time.sleep(0.2)
    time.sleep(0.5)  # client2 is now training (1500 images, 2 epochs)
    pid = json.loads((fed["state"] / "pids" / "client2.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    # Stay down until the session moved on without client2 (round 2 timed out and was
    # aggregated from client1 alone, round 3 began); a quick restart would instead pick
    # up round 2's queued task under the same client id and finish it.
    deadline = time.monotonic() + 120
    while _max_round(api) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    restarted = run_cli("fl", "restart", "client2", "--state-dir", fed["state"], timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    output, _ = runner.communicate(timeout=400)
    assert runner.returncode == 0, output
    result = json.loads((out / "fl.json").read_text())
    statuses = [r["status"] for r in result["rounds"]]
    assert statuses == ["Finished"] * 4, output
    participants = [set(r["clients"]) for r in result["rounds"]]
    assert any("client2" not in p for p in participants[1:3]), (participants, output)  # went missing...
    assert result["global"]["final_accuracy"] > result["global"]["seed_accuracy"] + 0.1
    # ...and the restarted client2 rejoined (same client id) and takes part again
    api.wait_for_clients(2, timeout=120)
    again = run_cli("fl", "run", "--rounds", "2", "--no-snapshot", "--state-dir", fed["state"], "--out", out / "after", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    rounds = json.loads((out / "after" / "fl.json").read_text())["rounds"]
    assert [set(r["clients"]) for r in rounds] == [{"client1", "client2"}] * 2, again.stdout


def _snapshot(api: FednApi) -> dict:
    return {kind: sorted(str(x.get(key)) for x in api.list(kind, limit=5000))
            for kind, key in (("sessions", "session_id"), ("rounds", "round_id"), ("models", "model_id"))}


@pytest.mark.parametrize("service", ["combiner", "controller", "postgres"])
def test_r4_restart_keeps_sessions_rounds_models(fed, service):
    api = fed["api"]
    before = _snapshot(api)
    assert before["sessions"] and before["models"]
    proc = run_cli("fl", "restart", service, "--state-dir", fed["state"], timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deadline = time.monotonic() + 60
    while not api.healthy() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _snapshot(api) == before


def test_r4_federation_works_after_restarts(fed):
    out = fed["root"] / "r4"
    # the clients reconnect to the restarted combiner on their own; a round started before
    # both are back runs with one (seen once in 2 runs right after the postgres restart)
    fed["api"].wait_for_clients(2, timeout=120)
    proc = run_cli("fl", "run", "--rounds", "1", "--no-snapshot", "--state-dir", fed["state"], "--out", out, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "fl.json").read_text())
    assert result["rounds"][0]["status"] == "Finished"
    assert set(result["rounds"][0]["clients"]) == {"client1", "client2"}
