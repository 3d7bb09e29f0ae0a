"""FL aggregation as a config option, and FEDn's own APIClient, on a real local federation.

One federation for the module (no auth: FEDn's default, as its docs use the
APIClient): a session with FedAdam chosen on `stacklab fl run`, then a
session started with `fedn.APIClient.start_session` as a FEDn user would.
"""

from __future__ import annotations

import ast
import json
import time

import pytest
import requests

from tests.conftest import assert_one_line_error, run_cli
from tests.e2e_local.federation import local_federation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fed():
    with local_federation("stacklab-flagg-", {"train_per_client": 300, "test_per_client": 100, "global_test": 200,
                                              "round_timeout": 120}) as federation:
        yield federation


def test_fedadam_session_runs_and_the_api_shows_it(fed):
    proc = run_cli("fl", "run", "--rounds", "1", "--state-dir", fed["state"], "--out", fed["out"], "--no-snapshot",
                   "--aggregator", "fedadam", "--aggregator-arg", "learning_rate=0.01", timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((fed["out"] / "fl.json").read_text())
    assert [r["status"] for r in result["rounds"]] == ["Finished"]
    assert result["config"]["aggregator"] == "fedadam"
    assert result["aggregation"] == {"fedn_aggregator": "fedopt",
                                     "aggregator_kwargs": {"serveropt": "adam", "learning_rate": 0.01}}
    api = f"http://127.0.0.1:{fed['ports']['controller_port']}/api/v1"
    session = requests.get(f"{api}/sessions/{result['session_id']}", timeout=10).json()
    assert session["session_config"]["aggregator"] == "fedopt"
    assert ast.literal_eval(session["session_config"]["aggregator_kwargs"]) == {"serveropt": "adam", "learning_rate": 0.01}
    assert "Aggregator fedopt starting model aggregation" in (fed["state"] / "logs" / "combiner.log").read_text()


def test_unknown_aggregator_is_one_line(fed):
    proc = run_cli("fl", "run", "--state-dir", fed["state"], "--aggregator", "fedprox", timeout=60)
    assert_one_line_error(proc, "unknown aggregator 'fedprox'", "fedavg")
    proc = run_cli("fl", "run", "--state-dir", fed["state"], "--aggregator", "fedavg",
                   "--aggregator-arg", "beta1=0.5", timeout=60)
    assert_one_line_error(proc, "fedavg has no parameter 'beta1'")


def test_fedn_apiclient_starts_a_session_that_finishes(fed):
    from fedn import APIClient

    client = APIClient("127.0.0.1", fed["ports"]["controller_port"])
    assert sorted(c["name"] for c in client.get_clients()["result"]) == ["client1", "client2"]
    assert client.get_combiners()["count"] == 1
    rounds_before = client.get_rounds()["count"]
    started = client.start_session(name="started-by-apiclient", rounds=1)
    assert started.get("message") == "Session started", started
    session_id = started["session_id"]
    deadline = time.monotonic() + 300
    while not client.session_is_finished(session_id) and time.monotonic() < deadline:
        time.sleep(1)
    assert client.get_session_status(session_id) == "Finished"
    rounds = client.get_rounds()
    assert rounds["count"] == rounds_before + 1
    newest = max(rounds["result"], key=lambda r: int(r["round_id"]))
    assert newest["status"] == "Finished"
    session = client.get_session(session_id)
    assert session["name"] == "started-by-apiclient" and session["session_config"]["rounds"] == 1
    assert client.get_models(session_id=session_id)["count"] >= 1
