"""Tabular datasets by name: covtype (the lab's) and sklearn's bundled ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stacklab.core.errors import UserError

if TYPE_CHECKING:  # pandas and sklearn load with the data, not with the CLI's --dataset choices
    from stacklab.data.covtype import Dataset

BUNDLED = {
    "iris": "load_iris",
    "wine": "load_wine",
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
}
DATASETS = ["covtype", *BUNDLED]


def load_dataset(name: str = "covtype", source: str = "auto", rows: int | None = None, seed: int = 0) -> Dataset:
    """Load a dataset; ``rows`` takes a stratified, deterministic subsample."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from stacklab.data.covtype import Dataset, load_covtype

    if name == "covtype":
        data = load_covtype(source, seed=seed)
    elif name in BUNDLED:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, BUNDLED[name])()
        data = Dataset(name, bunch.data.astype(np.float32), bunch.target.astype(np.int64),
                       list(map(str, bunch.feature_names)), f"sklearn.datasets.{BUNDLED[name]}", True)
    else:
        raise UserError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if rows is not None:
        if rows < 20:
            raise UserError(f"--rows {rows} is too small: use at least 20")
        if rows < len(data.y):
            keep, _ = train_test_split(np.arange(len(data.y)), train_size=rows, stratify=data.y, random_state=seed)
            keep.sort()
            data.X, data.y = data.X[keep], data.y[keep]
    return data
