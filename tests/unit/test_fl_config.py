"""FL config, credentials, compute package checks, client data partitions, results rendering."""

from __future__ import annotations

import ast
import json
import re
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from stacklab.core.errors import UserError
from stacklab.federated import task
from stacklab.federated.config import FLConfig, load_config, load_saved, save_config
from stacklab.federated.package import build_package, check_package_dir

REPO = Path(__file__).resolve().parents[2]


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "fl.yaml"
    path.write_text("controller_port: 8190\nn_clients: 3\nnon_iid: true\n")
    cfg = load_config(path, {"n_clients": "4", "state_dir": tmp_path / "s", "lr": None})
    assert (cfg.controller_port, cfg.n_clients, cfg.non_iid, cfg.lr) == (8190, 4, True, FLConfig().lr)
    save_config(cfg)
    again = load_saved(tmp_path / "s")
    assert again.to_dict() == cfg.to_dict() | {"state_dir": str(tmp_path / "s")}


@pytest.mark.parametrize("bad, fragment", [
    ({"controler_port": 1}, "unknown FL config key"),
    ({"n_clients": "two"}, "is not a int"),
    ({"client_mode": "threads"}, "unknown client mode"),
    ({"n_clients": 2, "clients_required": 3}, "exceeds"),
    ({"s3_port": 60000}, "not a usable port"),
])
def test_bad_config_is_one_clear_error(bad, fragment):
    with pytest.raises(UserError, match=fragment):
        load_config(overrides=bad)


def test_load_saved_without_up(tmp_path):
    with pytest.raises(UserError, match="run `stacklab fl up` first"):
        load_saved(tmp_path)


def test_secrets_generated_private_and_stable(tmp_path):
    from stacklab.federated.secrets import ensure_secrets, secrets_path

    cfg = FLConfig(state_dir=tmp_path)
    first = ensure_secrets(cfg)
    assert stat.S_IMODE(secrets_path(cfg).stat().st_mode) == 0o600
    assert len(first["postgres_password"]) >= 24 and first["s3_secret_key"] != first["postgres_password"]
    assert ensure_secrets(cfg) == first


def test_repo_package_is_valid_and_tarred_at_root(tmp_path):
    spec = check_package_dir(REPO / "federated" / "client")
    assert {"train", "validate", "startup", "build", "predict"} <= set(spec["entry_points"])
    with tarfile.open(build_package(REPO / "federated" / "client", tmp_path / "p.tgz")) as tar:
        names = tar.getnames()
    assert "fedn.yaml" in names and "train.py" in names and not any("__pycache__" in n for n in names)


@pytest.mark.parametrize("manifest, fragment", [
    (None, "has no fedn.yaml"),
    ("name: x\n", "declares no entry point(s) train, validate"),
    ("entry_points:\n  train:\n    command: python train.py\n", "declares no entry point(s) validate"),
    ("python_env: env.yaml\nentry_points: {train: {command: a}, validate: {command: b}}\n", "python_env"),
    ("entry_points: [", "not valid YAML"),
])
def test_bad_package_is_one_clear_error(tmp_path, manifest, fragment):
    if manifest is not None:
        (tmp_path / "fedn.yaml").write_text(manifest)
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        check_package_dir(tmp_path)


def _tiny_cfg(tmp_path, **kw) -> FLConfig:
    return FLConfig(state_dir=tmp_path, data="standin", n_clients=2, train_per_client=120, test_per_client=60,
                    global_test=100, **kw)


def test_partitions_disjoint_and_noniid_skewed(tmp_path):
    iid = task.prepare_partitions(_tiny_cfg(tmp_path / "iid"))
    skew = task.prepare_partitions(_tiny_cfg(tmp_path / "skew", non_iid=True))
    cfg = _tiny_cfg(tmp_path / "iid")
    a, b = (task.load_partition(cfg.client_dir(i)) for i in (1, 2))
    assert len(a["y_train"]) == 120 and len(b["x_test"]) == 60
    assert not {x.tobytes() for x in a["x_train"][:50]} & {x.tobytes() for x in b["x_train"][:50]}

    def distance(infos):  # total variation distance between the two clients' label histograms
        p, q = (np.array(i["train_label_counts"]) / sum(i["train_label_counts"]) for i in infos)
        return 0.5 * np.abs(p - q).sum()

    assert distance(skew) > max(0.3, 2 * distance(iid)), (distance(skew), distance(iid))
    # each client's test share follows its own training label mix (local validation)
    skew_cfg = _tiny_cfg(tmp_path / "skew", non_iid=True)
    for index, info in enumerate(skew, start=1):
        test_counts = np.bincount(task.load_partition(skew_cfg.client_dir(index))["y_test"], minlength=10)
        assert distance([info, {"train_label_counts": test_counts.tolist()}]) < distance(skew) / 2


def test_missing_partition_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="data partition missing"):
        task.load_partition(tmp_path / "nowhere")


def test_train_validate_round_trip_improves(tmp_path):
    cfg = _tiny_cfg(tmp_path, epochs=3)
    task.prepare_partitions(cfg)
    seed = task.seed_params(0)
    before = task.validate(seed, cfg.client_dir(1))
    params, meta = task.train(seed, cfg.client_dir(1))
    after = task.validate(params, cfg.client_dir(1))
    assert meta["num_examples"] == 120 and after["train_seconds"] > 0
    assert after["test_accuracy"] > before["test_accuracy"] + 0.1


def test_entry_points_run_alone(tmp_path, monkeypatch):
    from stacklab.federated import entry

    cfg = _tiny_cfg(tmp_path)
    task.prepare_partitions(cfg)
    monkeypatch.setenv("STACKLAB_FL_CLIENT_DIR", str(cfg.client_dir(1)))
    seed, out = tmp_path / "seed.npz", tmp_path / "out"
    assert entry.build([str(seed)]) == 0
    assert entry.train([str(seed), str(out)]) == 0  # no .npz suffix: FEDn reads exactly this path
    assert json.loads(Path(str(out) + "-metadata").read_text())["num_examples"] == 120
    assert entry.validate([str(out), str(tmp_path / "v.json")]) == 0
    assert 0 <= json.loads((tmp_path / "v.json").read_text())["test_accuracy"] <= 1


def test_entry_point_bad_input_exit_2(tmp_path, monkeypatch, capsys):
    from stacklab.federated import entry

    monkeypatch.setenv("STACKLAB_FL_CLIENT_DIR", str(tmp_path))
    assert entry.train([str(tmp_path / "missing.npz"), str(tmp_path / "o")]) == 2
    assert entry.train([]) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("stacklab: error:")]
    assert len(errors) == 2 and "does not exist" in errors[0] and "usage" in errors[1]


def test_results_written_json_first(tmp_path):
    from stacklab.federated.report import write_all

    rounds = [{"round": r, "status": "Finished", "seconds": 1.0 + r, "model_id": f"m{r}", "mean_accuracy": 0.5 + r / 10,
               "overhead_seconds": 0.3, "clients": {"client1": {"accuracy": 0.5 + r / 10}, "client2": {"accuracy": 0.4 + r / 10}}}
              for r in (1, 2)]
    result = {"session_name": "s", "session_id": "id", "clients": ["client1", "client2"], "client_mode": "inprocess",
              "non_iid": False, "data": {"source": "stand-in"}, "rounds": rounds, "mean_round_seconds": 2.5,
              "mean_overhead_seconds": 0.3, "global": {"seed_accuracy": 0.1, "final_accuracy": 0.7, "n_test": 100}}
    path = write_all(result, tmp_path)
    assert json.loads(path.read_text())["rounds"][1]["clients"]["client2"]["accuracy"] == pytest.approx(0.6)
    md = (tmp_path / "fl.md").read_text()
    assert "client1 acc" in md and "0.7000" in md
    assert (tmp_path / "fl_accuracy.png").stat().st_size > 5000


def test_aggregator_names_map_to_fedn_aggregators_and_kwargs():
    from stacklab.federated.config import FEDOPT_PARAMS
    from stacklab.federated.session import session_config

    assert load_config(None, {}).fedn_aggregator() == ("fedavg", {})
    cfg = load_config(None, {"aggregator": "fedyogi", "aggregator_args": "learning_rate=0.02,tau=1e-3"})
    assert cfg.fedn_aggregator() == ("fedopt", {"serveropt": "yogi", "learning_rate": 0.02, "tau": 0.001})
    sent = session_config(cfg, "seed")
    assert sent["aggregator"] == "fedopt"
    assert ast.literal_eval(sent["aggregator_kwargs"]) == {"serveropt": "yogi", "learning_rate": 0.02, "tau": 0.001}
    assert "aggregator_kwargs" not in session_config(load_config(None, {}), "seed")
    fedopt = load_config(None, {"aggregator": "fedopt", "aggregator_args": {"serveropt": "adagrad", "beta1": 0.5}})
    assert fedopt.fedn_aggregator() == ("fedopt", {"serveropt": "adagrad", "beta1": 0.5})
    assert set(FEDOPT_PARAMS) == {"learning_rate", "beta1", "beta2", "tau"}


@pytest.mark.parametrize("settings, message", [
    ({"aggregator": "fedprox"}, "unknown aggregator 'fedprox'"),
    ({"aggregator": "fedavg", "aggregator_args": {"learning_rate": 1}}, "fedavg has no parameter 'learning_rate'"),
    ({"aggregator": "fedadam", "aggregator_args": {"serveropt": "yogi"}}, "fedadam has no parameter 'serveropt'"),
    ({"aggregator": "fedopt", "aggregator_args": {"serveropt": "sgd"}}, "serveropt='sgd' is not a FedOpt"),
    ({"aggregator": "fedadam", "aggregator_args": "tau"}, "aggregator_args='tau' is not KEY=VALUE pairs"),
    ({"aggregator": "fedadam", "aggregator_args": {"tau": "x"}}, "tau='x' is not a number"),
])
def test_bad_aggregation_is_one_clear_error(settings, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_config(None, settings)
