"""Ray Train on a local Ray: two real ranks, checkpoints, resume, and a killed worker.

The session's local Ray (tests/conftest.py, 2 CPUs) serves every test; data
are small IDX files the test writes, so the real loader path is exercised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stacklab.data import mnist
from stacklab.mnist.model import predict
from stacklab.mnist.train import TrainSettings, load_trained, run_training

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mnist")
    for split, n in (("train", 1200), ("test", 300)):
        images, labels = mnist.make_stand_in(split, n=n, seed=7)
        images_name, labels_name = mnist.FILES[split]
        mnist.write_idx(directory / f"{images_name}.gz", images)
        mnist.write_idx(directory / labels_name, labels.astype(np.uint8))
    return directory


@pytest.fixture(scope="module")
def first_run(local_ray, idx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    settings = TrainSettings(workers=2, epochs=2, batch_size=32, data=str(idx_dir),
                             storage=str(root / "storage"), out=str(root / "out"))
    return settings, run_training(settings)


def test_two_workers_train_and_loss_falls(first_run):
    settings, summary = first_run
    assert sorted(r["rank"] for r in summary["ranks"]) == [0, 1]
    assert len({r["pid"] for r in summary["ranks"]}) == 2
    assert all(r["threads"] == 1 and r["node_ip"] for r in summary["ranks"])
    epochs = summary["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[0]["samples"] == 1200 and epochs[0]["local_samples"] == 600
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["test_accuracy"] > 0.5  # 10 classes: chance is 0.1
    for name in ("train.json", "train.md", "train_curves.png", "train_throughput.png"):
        assert (Path(settings.out) / name).stat().st_size > 0


def test_run_starts_no_preemption_watcher(first_run):
    # stacklab.mnist.train turns the watcher off (one actor process less per run);
    # the setting must reach Train's controller, which decides whether to start it.
    import ray

    # The state API needs the dashboard, which the test session's Ray leaves out;
    # the GCS actor table underneath it holds the same records.
    classes = [a["ActorClassName"] for a in ray._private.state.actors().values()]
    assert "TrainController" in classes and "RayTrainWorker" in classes
    assert "PreemptionWatcher" not in classes


def test_checkpoint_reloads_and_predicts(first_run, idx_dir):
    _, summary = first_run
    model = load_trained(summary["checkpoint"])
    x, y, _ = mnist.load_mnist(str(idx_dir), "test")
    accuracy = float((predict(model, x) == y).mean())
    assert accuracy == pytest.approx(summary["final"]["test_accuracy"], abs=1e-9)


def test_resume_continues_from_saved_epoch(first_run):
    settings, first = first_run
    settings.resume, settings.epochs = True, 3
    summary = run_training(settings)
    assert summary["run_name"] == first["run_name"]
    assert [s["from_epoch"] for s in summary["starts"]] == [0, 2]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert summary["epochs"][:2] == first["epochs"]  # history carried over, not re-run
    assert summary["epochs"][2]["train_loss"] < first["epochs"][1]["train_loss"]


def test_killed_worker_restarts_from_checkpoint(local_ray, idx_dir, tmp_path):
    marker = tmp_path / "killed"
    settings = TrainSettings(workers=2, epochs=3, batch_size=32, data=str(idx_dir), max_failures=1,
                             storage=str(tmp_path / "storage"), out=str(tmp_path / "out"),
                             fault={"rank": 1, "epoch": 2, "marker": str(marker)})
    summary = run_training(settings)
    assert marker.exists()  # rank 1 really was SIGKILLed in epoch 2
    # The worker group restarted once, from the epoch-1 checkpoint.
    assert [s["from_epoch"] for s in summary["starts"]] == [0, 1]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert summary["final"]["test_accuracy"] > 0.6
