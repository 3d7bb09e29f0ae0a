"""The P3 benches' run-length projections (stacklab.mnist.run_length)."""

from __future__ import annotations

import pytest

from stacklab.mnist.run_length import at_loop_parity, epochs_to_reach, projected_ratio, split

# 10 epochs: DDP 3 s fixed + 10 s per epoch; Ray 10 s fixed + 10.2 s per epoch
DDP = {"wall_seconds": 103.0, "loop_seconds": 100.0}
RAY = {"wall_seconds": 112.0, "loop_seconds": 102.0}


def test_split_and_projection_follow_fixed_plus_per_epoch():
    assert split(RAY, 10) == (10.0, 10.2)
    assert projected_ratio(RAY, DDP, 10, 10) == pytest.approx(112 / 103)
    assert projected_ratio(RAY, DDP, 10, 1) == pytest.approx(20.2 / 13)


def test_epochs_to_reach_the_target():
    n = epochs_to_reach(1.05, RAY, DDP, 10)
    assert projected_ratio(RAY, DDP, 10, n) == pytest.approx(1.05)
    assert epochs_to_reach(4.0, RAY, DDP, 10) == 0.0          # even the fixed parts are within it
    assert epochs_to_reach(1.01, RAY, DDP, 10) is None        # Ray's loop alone is 2% slower


def test_loop_parity_leaves_only_the_fixed_difference():
    parity = at_loop_parity(DDP, 7.0)
    assert projected_ratio(parity, DDP, 10, 10) == pytest.approx(110 / 103)
    n = epochs_to_reach(1.05, parity, DDP, 10)
    assert n == pytest.approx((7.0 / 0.05 - 3.0) / 10.0)
