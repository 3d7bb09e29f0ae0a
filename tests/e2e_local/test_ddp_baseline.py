"""The P3 baseline: plain torch.distributed DDP, two spawned processes, no Ray.

bench/p3_ray_train_vs_ddp.py divides Ray Train's time by this one's, and
bench/p3_startup.py runs it with zero epochs, so both uses are checked here
on small generated data.
"""

from __future__ import annotations

import pytest

from stacklab.data import mnist
from stacklab.mnist.ddp_baseline import run_ddp

pytestmark = pytest.mark.slow


def _data(split: str, n: int):
    images, labels = mnist.make_stand_in(split, n=n, seed=3)
    return mnist.normalise(images), labels


def test_two_ranks_share_the_data_and_loss_falls():
    result = run_ddp(_data("train", 1200), _data("test", 300), workers=2, epochs=3, batch_size=32)
    epochs = result["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[0]["samples"] == 1200 and epochs[0]["local_samples"] == 600  # each rank its half
    assert epochs[2]["train_loss"] < epochs[1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[2]["test_accuracy"] > epochs[0]["test_accuracy"]
    assert epochs[2]["test_accuracy"] > 0.4  # 10 classes: chance is 0.1
    loop = sum(e["train_seconds"] + e["eval_seconds"] for e in epochs)
    assert result["wall_seconds"] > loop  # the wall also holds spawn, imports and the process group


def test_zero_epochs_starts_the_group_and_trains_nothing():
    # bench/p3_startup.py: the launcher's fixed cost alone
    result = run_ddp(_data("train", 4), _data("test", 4), workers=2, epochs=0)
    assert result["epochs"] == [] and result["wall_seconds"] > 0
