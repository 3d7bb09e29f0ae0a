"""Upstream's subprocess-per-task CLI client on the kit: our compute package, then a foreign
upstream-style package (numpy + fedn helpers only, no stacklab import, no python_env)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.e2e_local.federation import local_federation

pytestmark = pytest.mark.slow

FOREIGN = {
    "fedn.yaml": "entry_points:\n  train:\n    command: python train.py\n  validate:\n    command: python validate.py\n",
    "train.py": (
        "import sys\n"
        "from fedn.utils.helpers.helpers import get_helper, save_metadata\n"
        "helper = get_helper('numpyhelper')\n"
        "weights = helper.load(sys.argv[1])\n"
        "helper.save([w * 0.5 for w in weights], sys.argv[2])\n"
        "save_metadata({'num_examples': 10}, sys.argv[2])\n"
    ),
    "validate.py": (
        "import json, sys\n"
        "from fedn.utils.helpers.helpers import get_helper\n"
        "weights = get_helper('numpyhelper').load(sys.argv[1])\n"
        "norm = float(sum((w.astype('float64') ** 2).sum() for w in weights))\n"
        "json.dump({'test_accuracy': 0.5, 'weight_norm': norm}, open(sys.argv[2], 'w'))\n"
    ),
}


@pytest.fixture(scope="module")
def fed():
    settings = {"train_per_client": 300, "test_per_client": 100, "global_test": 200}
    with local_federation("stacklab-fls-", settings, "--mode", "subprocess") as federation:
        yield federation


def test_cli_clients_run_the_kit_package(fed):
    out = fed["root"] / "kit"
    proc = run_cli("fl", "run", "--rounds", "1", "--no-snapshot", "--state-dir", fed["state"], "--out", out, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = json.loads((out / "fl.json").read_text())["rounds"][0]
    assert rec["status"] == "Finished" and set(rec["clients"]) == {"client1", "client2"}
    assert all(c["train_seconds"] > 0 for c in rec["clients"].values())
    # each task ran as its own `python train.py` in the client's unpacked package
    assert (fed["state"] / "clients" / "client1" / "package" / "train.py").exists()


def test_cli_clients_run_a_foreign_upstream_package(fed, tmp_path):
    for name, text in FOREIGN.items():
        (tmp_path / name).write_text(text)
    out = fed["root"] / "foreign"
    proc = run_cli("fl", "run", "--rounds", "1", "--no-snapshot", "--state-dir", fed["state"], "--out", out, "--package", tmp_path,
                   timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "restarting the subprocess clients" in proc.stdout
    rec = json.loads((out / "fl.json").read_text())["rounds"][0]
    assert rec["status"] == "Finished" and set(rec["clients"]) == {"client1", "client2"}
    assert [c["accuracy"] for c in rec["clients"].values()] == [0.5, 0.5]  # the foreign validate.py's metric
    assert (fed["state"] / "clients" / "client2" / "package" / "validate.py").read_text() == FOREIGN["validate.py"]
