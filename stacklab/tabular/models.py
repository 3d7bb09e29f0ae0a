"""Model registry: name -> estimator factory, default parameters, search space.

Each spec also says how a trial's compute grows, which is what lets ASHA stop
bad trials early: forests grow trees (warm start), other models add folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # sklearn and Ray load only when a model is built or searched
    from sklearn.base import BaseEstimator


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[..., BaseEstimator]
    # Search space in the --space file's form ({choice: [...]}, {loguniform: [lo, hi]}, ...):
    # plain data, so listing the models never imports Ray.
    space_spec: dict[str, dict[str, list]]
    grid: dict[str, list]
    defaults: dict[str, Any] = field(default_factory=dict)
    # Parameter grown with warm_start across ASHA rungs; None: rungs are folds.
    grows: str | None = None
    # A complete config inside the space equal to the library's defaults: every
    # search includes it, so "tuned vs default" compares like with like.
    start: dict[str, Any] | None = None
    # Parameters the factory sets from the trial's CPU share / seed.
    takes_n_jobs: bool = False
    takes_seed: bool = True

    @property
    def space(self) -> dict[str, Any]:
        """The search space as Ray Tune domains."""
        from stacklab.tabular.space_file import to_domains

        return to_domains(self.space_spec, f"model {self.name}")

    def make(self, params: dict[str, Any], n_jobs: int = 1, seed: int = 0) -> BaseEstimator:
        kwargs = dict(params)
        if self.takes_n_jobs:
            kwargs["n_jobs"] = n_jobs
        if self.takes_seed:
            kwargs["random_state"] = seed
        return self.factory(**kwargs)


def _rf(**kw: Any) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**kw)


def _extratrees(**kw: Any) -> BaseEstimator:
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(**kw)


def _dtree(**kw: Any) -> BaseEstimator:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(**kw)


def _knn(**kw: Any) -> BaseEstimator:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), KNeighborsClassifier(**kw))


def _logreg(**kw: Any) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, **kw))


def _svm(**kw: Any) -> BaseEstimator:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(**kw))


def _xgboost(**kw: Any) -> BaseEstimator:
    from xgboost import XGBClassifier

    from stacklab.tabular.label_encoded import LabelEncodedClassifier

    return LabelEncodedClassifier(XGBClassifier(tree_method="hist", verbosity=0, **kw))


def _lightgbm(**kw: Any) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(verbosity=-1, **kw)


_FOREST_SPACE = {
    "n_estimators": {"choice": [50, 100, 200, 300]},
    "max_depth": {"choice": [None, 10, 20, 30]},
    "max_features": {"choice": ["sqrt", "log2", 0.3, 0.5]},
    "min_samples_split": {"choice": [2, 4, 8]},
    "min_samples_leaf": {"choice": [1, 2, 4]},
    "criterion": {"choice": ["gini", "entropy"]},
    "bootstrap": {"choice": [True, False]},
}
_FOREST_START = {
    "n_estimators": 100, "max_depth": None, "max_features": "sqrt", "min_samples_split": 2,
    "min_samples_leaf": 1, "criterion": "gini",
}
_FOREST_GRID = {
    "n_estimators": [100, 300],
    "max_depth": [None, 20],
    "max_features": ["sqrt", 0.5],
    "min_samples_leaf": [1, 2],
}

MODELS: dict[str, ModelSpec] = {
    "rf": ModelSpec(
        "rf", _rf, _FOREST_SPACE, _FOREST_GRID, defaults={"n_estimators": 100},
        grows="n_estimators", takes_n_jobs=True, start={**_FOREST_START, "bootstrap": True},
    ),
    "extratrees": ModelSpec(
        "extratrees", _extratrees, _FOREST_SPACE, _FOREST_GRID, defaults={"n_estimators": 100},
        grows="n_estimators", takes_n_jobs=True, start={**_FOREST_START, "bootstrap": False},
    ),
    "dtree": ModelSpec(
        "dtree",
        _dtree,
        {
            "max_depth": {"choice": [None, 5, 10, 20, 40]},
            "min_samples_split": {"choice": [2, 4, 8, 16]},
            "min_samples_leaf": {"choice": [1, 2, 4, 8]},
            "criterion": {"choice": ["gini", "entropy"]},
        },
        {"max_depth": [None, 10, 20], "min_samples_leaf": [1, 4], "criterion": ["gini", "entropy"]},
    ),
    "knn": ModelSpec(
        "knn",
        _knn,
        {"n_neighbors": {"randint": [1, 40]}, "weights": {"choice": ["uniform", "distance"]}, "p": {"choice": [1, 2]}},
        {"n_neighbors": [1, 5, 15], "weights": ["uniform", "distance"]},
        takes_n_jobs=True, takes_seed=False,
    ),
    "logreg": ModelSpec(
        "logreg",
        _logreg,
        {"C": {"loguniform": [1e-3, 1e3]}},
        {"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
    ),
    "svm": ModelSpec(
        "svm",
        _svm,
        {"C": {"loguniform": [1e-2, 1e3]}, "gamma": {"loguniform": [1e-4, 1e0]}, "kernel": {"choice": ["rbf"]}},
        {"C": [0.1, 1.0, 10.0], "gamma": [0.01, 0.1]},
    ),
    "xgboost": ModelSpec(
        "xgboost",
        _xgboost,
        {
            "n_estimators": {"choice": [50, 100, 200]},
            "max_depth": {"randint": [2, 10]},
            "learning_rate": {"loguniform": [0.01, 0.5]},
            "subsample": {"uniform": [0.5, 1.0]},
        },
        {"n_estimators": [100, 200], "max_depth": [4, 8], "learning_rate": [0.1, 0.3]},
        takes_n_jobs=True,
    ),
    "lightgbm": ModelSpec(
        "lightgbm",
        _lightgbm,
        {
            "n_estimators": {"choice": [50, 100, 200]},
            "num_leaves": {"randint": [8, 128]},
            "learning_rate": {"loguniform": [0.01, 0.5]},
            "min_child_samples": {"randint": [5, 50]},
        },
        {"n_estimators": [100, 200], "num_leaves": [15, 63], "learning_rate": [0.05, 0.2]},
        takes_n_jobs=True,
    ),
}


def get_model(name: str) -> ModelSpec:
    from stacklab.core.errors import UserError

    if name not in MODELS:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]
