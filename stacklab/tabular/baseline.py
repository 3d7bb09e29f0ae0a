"""Part tuning/: a model with default parameters, stratified k-fold CV."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import cross_val_score

from stacklab.core.errors import UserError
from stacklab.core.results import markdown_table, part_dir, write_atomic, write_json
from stacklab.data.tabular import load_dataset
from stacklab.tabular.cv import fold_splitter
from stacklab.tabular.models import get_model


def run_baseline(
    data: str = "auto",
    dataset: str = "covtype",
    model: str = "rf",
    folds: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
    rows: int | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Cross-validate the default model and write baseline.json + baseline.md."""
    if folds < 2:
        raise UserError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if n_jobs < 1:
        raise UserError(f"--n-jobs {n_jobs}: give a positive number of CPUs")
    spec = get_model(model)
    ds = load_dataset(dataset, data, rows=rows, seed=seed)
    smallest = int(np.unique(ds.y, return_counts=True)[1].min())
    if smallest < folds:
        raise UserError(f"the smallest class has {smallest} rows, fewer than --folds {folds}: use fewer folds or more data")
    estimator = spec.make(spec.defaults, n_jobs=n_jobs, seed=seed)
    start = time.perf_counter()
    scores = cross_val_score(estimator, ds.X, ds.y, cv=fold_splitter(folds, seed))
    seconds = time.perf_counter() - start
    result = {
        "part": "tuning",
        "model": model,
        "params": spec.defaults,
        "folds": folds,
        "seed": seed,
        "n_jobs": n_jobs,
        "data": ds.describe(),
        "fold_scores": [float(s) for s in scores],
        "mean_accuracy": float(scores.mean()),
        "std_accuracy": float(scores.std()),
        "seconds": seconds,
    }
    directory = part_dir(out, "tuning")
    write_json(directory / "baseline.json", result)
    write_atomic(directory / "baseline.md", baseline_markdown(result))
    return result


def baseline_markdown(result: dict[str, Any]) -> str:
    row = {
        "model": result["model"],
        "data": f"{result['data']['source']} ({result['data']['rows']} rows)",
        "folds": result["folds"],
        "CV accuracy": f"{result['mean_accuracy']:.4f} ± {result['std_accuracy']:.4f}",
        "wall s": round(result["seconds"], 1),
    }
    return "# Default-parameter baseline\n\n" + markdown_table([row])


def lab_step(results_root: Path) -> dict[str, Any]:
    result = run_baseline(out=results_root / "tuning")
    return {
        "part": "tuning (default RF)",
        "metric": f"{result['folds']}-fold CV accuracy",
        "value": round(result["mean_accuracy"], 4),
        "seconds": round(result["seconds"], 1),
        "results": str(results_root / "tuning" / "baseline.json"),
    }
