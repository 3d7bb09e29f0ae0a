"""Tuned vs default, scored on rows the search never saw.

A search picks its winner by the CV scores it reports, so the winner's score
is the largest of many noisy numbers and overstates it. Before the search a
stratified share of the rows is held out. Afterwards the chosen config and
the defaults are scored on folds of those held-out rows only, with repeated
stratified k-fold: each split trains on the search rows plus the other
held-out folds and tests on one held-out fold, the same splits and model seed
for both configs, so each split gives one paired difference.

Those differences are not independent (the training sets overlap), so the
plain standard error would claim too much certainty. The interval uses
Nadeau and Bengio's corrected resampled t-test (variance times
1/J + n_test/n_train), the correction scikit-learn's own model-comparison
example uses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from stacklab.core.errors import UserError
from stacklab.tabular.models import ModelSpec

CONFIDENCE = 0.95


def holdout_split(y: np.ndarray, fraction: float, seed: int, folds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(search rows, held-out rows): a stratified share ``fraction`` of the rows set aside.

    Every class needs ``folds`` held-out rows, one per fold.
    """
    if not 0 < fraction < 1:
        raise UserError(f"--holdout {fraction}: give a share of the rows between 0 and 1 (e.g. 0.25)")
    rows = np.arange(len(y))
    try:
        search, held = train_test_split(rows, test_size=fraction, stratify=y, random_state=seed)
    except ValueError as exc:
        raise UserError(f"--holdout {fraction}: cannot hold out a share of every class ({exc}): "
                        "use more rows or a larger share") from None
    fewest = int(np.unique(y[held], return_counts=True)[1].min()) if len(np.unique(y[held])) == len(np.unique(y)) else 0
    if fewest < folds:
        raise UserError(f"--holdout {fraction}: {len(held)} held-out rows leave a class with {fewest} rows, "
                        f"fewer than the {folds} rescore folds: use more rows or a larger share")
    return np.sort(search), np.sort(held)


def splits(search: np.ndarray, held: np.ndarray, y: np.ndarray, folds: int, repeats: int,
           seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per split: test on one held-out fold, train on the rest of the rows."""
    kfold = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for train_part, test_part in kfold.split(held, y[held]):
        yield np.concatenate([search, held[train_part]]), held[test_part]


def score_split(spec: ModelSpec, configs: dict[str, dict[str, Any]], X: np.ndarray, y: np.ndarray,
                train: np.ndarray, test: np.ndarray, seed: int, n_jobs: int) -> dict[str, float]:
    """Test accuracy of each named config on one split (same rows, same model seed)."""
    return {name: float(spec.make(params, n_jobs, seed).fit(X[train], y[train]).score(X[test], y[test]))
            for name, params in configs.items()}


def compare(default: list[float], tuned: list[float], n_train: int, n_test: int) -> dict[str, Any]:
    """Mean paired difference tuned - default, its corrected interval, and whether 0 lies inside it."""
    d = np.asarray(tuned) - np.asarray(default)
    count = len(d)
    mean = float(d.mean())
    std = float(d.std(ddof=1)) if count > 1 else 0.0
    se = math.sqrt(std ** 2 * (1 / count + n_test / n_train))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, count - 1) * se) if count > 1 and se > 0 else 0.0
    low, high = mean - half, mean + half
    return {
        "default_mean": float(np.mean(default)), "default_std": float(np.std(default, ddof=1)) if count > 1 else 0.0,
        "tuned_mean": float(np.mean(tuned)), "tuned_std": float(np.std(tuned, ddof=1)) if count > 1 else 0.0,
        "diff_mean": mean, "diff_std": std, "diff_se_corrected": se,
        "confidence": CONFIDENCE, "diff_ci": [low, high],
        "splits_tuned_better": int((d > 0).sum()), "splits_equal": int((d == 0).sum()),
        # a gain counts only when the whole interval is above zero
        "verdict": "gain" if low > 0 else "loss" if high < 0 else "within noise",
    }


def rescore(score: Any, spec: ModelSpec, default: dict[str, Any], tuned: dict[str, Any], y: np.ndarray,
            search: np.ndarray, held: np.ndarray, folds: int, repeats: int, seed: int) -> dict[str, Any]:
    """Score both configs on every split with ``score(configs, train, test)``; summarise the pairs.

    ``score`` runs the splits wherever the caller likes (Ray tasks in a search,
    plain calls in tests) and returns one score_split dict per split, in order.
    """
    start = time.perf_counter()
    # the search may pick the defaults themselves, spelt out in full: then one fit per split serves both
    same = spec.make(default).get_params() == spec.make(tuned).get_params()
    configs = {"default": default} if same else {"default": default, "tuned": tuned}
    pairs = list(splits(search, held, y, folds, repeats, seed))
    results = [{"tuned": r["default"], **r} for r in score(configs, pairs)]
    n_train, n_test = len(pairs[0][0]), len(pairs[0][1])
    return {
        "method": "repeated stratified k-fold on held-out rows (train: search rows + other held-out folds)",
        "search_rows": len(search), "holdout_rows": len(held), "folds": folds, "repeats": repeats, "seed": seed,
        "train_rows": n_train, "test_rows": n_test,
        "default_params": default, "tuned_params": tuned, "same_config": same,
        "splits": [{"default": r["default"], "tuned": r["tuned"]} for r in results],
        **compare([r["default"] for r in results], [r["tuned"] for r in results], n_train, n_test),
        "seconds": time.perf_counter() - start,
    }
