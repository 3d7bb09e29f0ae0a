"""Cross-validation in stages, so that a tuning trial can report as it grows.

A stage is either more trees (forests, grown with warm_start, which gives the
same trees as one fit of the final size) or one more fold. Either way the
score after the last stage equals sklearn's cross_val_score of the same
estimator on the same folds.

Intermediate stages are not free for forests (each one scores every fold
again), so a caller that will not act on them (a FIFO search, the default
score) asks for the final stage only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from stacklab.tabular.models import ModelSpec

FOREST_STAGE_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def fold_splitter(folds: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


@dataclass
class Stage:
    index: int  # 1-based: what Tune reports as training_iteration
    score: float  # mean accuracy over the folds evaluated so far
    fold_scores: list[float]
    resource: int  # trees grown, or folds evaluated
    seconds: float


def stage_count(spec: ModelSpec, folds: int, every_stage: bool = True) -> int:
    if not every_stage:
        return 1
    return len(FOREST_STAGE_FRACTIONS) if spec.grows else folds


def staged_cv(
    spec: ModelSpec,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
    every_stage: bool = True,
) -> Iterator[Stage]:
    """Yield the CV score after each stage, or only the final one (see module docstring)."""
    splits = list(fold_splitter(folds, seed).split(X, y))
    start = time.perf_counter()
    if spec.grows:
        final = int(params[spec.grows]) if spec.grows in params else 100
        models = [spec.make({**params, spec.grows: 1, "warm_start": True}, n_jobs, seed) for _ in splits]
        fractions = FOREST_STAGE_FRACTIONS if every_stage else (1.0,)
        for index, fraction in enumerate(fractions, start=1):
            size = max(1, int(round(final * fraction)))
            scores = []
            for model, (train, test) in zip(models, splits, strict=True):
                model.set_params(**{spec.grows: size})
                model.fit(X[train], y[train])
                scores.append(float(model.score(X[test], y[test])))
            yield Stage(index, float(np.mean(scores)), scores, size, time.perf_counter() - start)
    else:
        scores = []
        template = spec.make(params, n_jobs, seed)
        for index, (train, test) in enumerate(splits, start=1):
            model = clone(template).fit(X[train], y[train])
            scores.append(float(model.score(X[test], y[test])))
            if every_stage or index == len(splits):
                stage = index if every_stage else 1
                yield Stage(stage, float(np.mean(scores)), list(scores), index, time.perf_counter() - start)


def cv_score(
    spec: ModelSpec, params: dict[str, Any], X: np.ndarray, y: np.ndarray,
    folds: int = 5, seed: int = 0, n_jobs: int = 1,
) -> Stage:
    """The final stage: full CV of params."""
    *_, last = staged_cv(spec, params, X, y, folds, seed, n_jobs, every_stage=False)
    return last
