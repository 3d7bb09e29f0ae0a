"""Tuned vs default on held-out rows: the split, the pairs and the interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import make_classification

from stacklab.core.errors import UserError
from stacklab.tabular.models import get_model
from stacklab.tabular.rescore import compare, holdout_split, rescore, score_split, splits


def data(rows: int = 400):
    return make_classification(n_samples=rows, n_features=8, n_informative=5, n_classes=3, random_state=1)


def test_held_out_rows_are_a_stratified_share_disjoint_from_the_search():
    _, y = data()
    search, held = holdout_split(y, 0.25, seed=0)
    assert len(held) == 100 and len(search) == 300
    assert set(search).isdisjoint(held) and sorted([*search, *held]) == list(range(len(y)))
    for label in np.unique(y):
        assert abs(np.mean(y[held] == label) - np.mean(y == label)) < 0.02


def test_every_split_tests_on_held_out_rows_only_and_trains_on_the_rest():
    _, y = data()
    search, held = holdout_split(y, 0.25, seed=0)
    pairs = list(splits(search, held, y, folds=4, repeats=2, seed=0))
    assert len(pairs) == 8
    for train, test in pairs:
        assert set(test) <= set(held) and set(search) <= set(train)
        assert set(train).isdisjoint(test) and len(train) + len(test) == len(y)
    # each repeat tests every held-out row exactly once
    assert sorted(np.concatenate([t for _, t in pairs[:4]])) == sorted(held)


def test_a_clear_gain_a_noisy_one_and_none():
    clear = compare([0.80, 0.81, 0.79, 0.80], [0.85, 0.86, 0.84, 0.86], n_train=900, n_test=100)
    assert clear["verdict"] == "gain" and clear["diff_ci"][0] > 0
    assert clear["diff_mean"] == pytest.approx(0.0525)
    noisy = compare([0.80, 0.84, 0.79, 0.83], [0.82, 0.81, 0.82, 0.82], n_train=900, n_test=100)
    assert noisy["verdict"] == "within noise" and noisy["diff_ci"][0] < 0 < noisy["diff_ci"][1]
    worse = compare([0.85, 0.86, 0.84, 0.86], [0.80, 0.81, 0.79, 0.80], n_train=900, n_test=100)
    assert worse["verdict"] == "loss"
    same = compare([0.8, 0.7], [0.8, 0.7], n_train=10, n_test=5)
    assert same["diff_ci"] == [0.0, 0.0] and same["verdict"] == "within noise"


def test_the_interval_is_widened_for_overlapping_training_sets():
    d = [0.01, 0.03, 0.00, 0.02, 0.04, 0.01]
    out = compare([0.8] * 6, [0.8 + x for x in d], n_train=600, n_test=300)
    naive = np.std(d, ddof=1) / np.sqrt(6)
    corrected = np.std(d, ddof=1) * np.sqrt(1 / 6 + 300 / 600)
    assert out["diff_se_corrected"] == pytest.approx(corrected) and corrected > naive
    half = stats.t.ppf(0.975, 5) * corrected
    assert out["diff_ci"] == pytest.approx([np.mean(d) - half, np.mean(d) + half])


def test_rescore_pairs_both_configs_on_the_same_splits():
    X, y = data()
    spec = get_model("dtree")
    search, held = holdout_split(y, 0.3, seed=0)
    seen = []

    def score(configs, pairs):
        seen.extend(pairs)
        return [score_split(spec, configs, X, y, train, test, 0, 1) for train, test in pairs]

    out = rescore(score, spec, {}, {"max_depth": 2}, y, search, held, folds=3, repeats=2, seed=0)
    assert len(out["splits"]) == len(seen) == 6 and out["holdout_rows"] == 120 and out["search_rows"] == 280
    assert out["test_rows"] == 40 and out["train_rows"] == 360 and not out["same_config"]
    train, test = seen[0]
    first = spec.make({"max_depth": 2}, 1, 0).fit(X[train], y[train]).score(X[test], y[test])
    assert out["splits"][0]["tuned"] == pytest.approx(first)
    assert out["diff_mean"] == pytest.approx(np.mean([s["tuned"] - s["default"] for s in out["splits"]]))
    seen.clear()
    fitted = []

    def count(configs, pairs):
        fitted.append(sorted(configs))
        return score(configs, pairs)

    spelt_out = rescore(count, spec, {}, {"criterion": "gini"}, y, search, held, folds=3, repeats=1, seed=0)
    assert spelt_out["same_config"] and spelt_out["diff_mean"] == 0.0 and len(spelt_out["splits"]) == 3
    assert fitted == [["default"]]      # the defaults, spelt out in full, are fitted once per split


def test_a_share_that_leaves_a_class_out_is_one_clear_error():
    y = np.array([0] * 40 + [1] * 4)
    with pytest.raises(UserError, match=r"--holdout 0.1: 5 held-out rows leave a class with 0 rows, fewer than the 3"):
        holdout_split(y, 0.1, seed=0, folds=3)
    assert len(holdout_split(y, 0.5, seed=0, folds=2)[1]) == 22
