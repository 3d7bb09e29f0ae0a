"""Search spaces from a YAML/JSON file, so a user can tune without editing code.

    n_estimators: {choice: [100, 200, 400]}
    max_depth:    {choice: [null, 10, 20]}
    max_features: {uniform: [0.1, 0.9]}
    min_samples_leaf: {randint: [1, 8]}      # high is exclusive, as in Ray Tune
    learning_rate: {loguniform: [0.001, 0.3]}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stacklab.core.errors import UserError

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

KINDS = {"choice", "randint", "uniform", "loguniform"}
FORMAT = "each key maps to one of {choice: [v, ...]}, {randint: [low, high]}, {uniform: [low, high]}, {loguniform: [low, high]}"


def load_space(path: str | Path, estimator: BaseEstimator) -> dict[str, Any]:
    """Parse and check a space file against the estimator's parameters."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"search-space file {path} does not exist: give a YAML or JSON file ({FORMAT})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML/JSON{where}: fix the syntax") from None
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{path} must be a non-empty mapping of parameter names: {FORMAT}")
    known = set(_estimator_params(estimator))
    for name in raw:
        if name not in known:
            raise UserError(f"{path}: {name!r} is not a parameter of this model: use one of {', '.join(sorted(known))}")
    return to_domains(raw, str(path))


def to_domains(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """{name: {kind: args}} -> {name: Ray Tune domain}; ``where`` names the source in errors."""
    return {name: _domain(where, name, spec) for name, spec in raw.items()}


def _estimator_params(estimator: BaseEstimator) -> list[str]:
    # The registry's factories pass parameters to the final model, inside a
    # scaling pipeline or a label-encoding wrapper; CPUs and seed are the kit's.
    from stacklab.tabular.label_encoded import LabelEncodedClassifier

    if hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    if isinstance(estimator, LabelEncodedClassifier):
        estimator = estimator.estimator
    return sorted(set(estimator.get_params(deep=False)) - {"n_jobs", "random_state"})


def _domain(path: str, name: str, spec: Any) -> Any:
    from ray import tune

    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise UserError(f"{path}: {name}: {spec!r} is not a domain: {FORMAT}")
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise UserError(f"{path}: {name}: choice needs a non-empty list of values")
        return tune.choice(args)
    if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, int | float) for a in args)):
        raise UserError(f"{path}: {name}: {kind} needs [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise UserError(f"{path}: {name}: {kind} needs low < high, got [{low}, {high}]")
    if kind == "randint":
        if not all(isinstance(a, int) for a in args):
            raise UserError(f"{path}: {name}: randint needs whole numbers, got {args!r}")
        return tune.randint(low, high)
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{path}: {name}: loguniform needs low > 0, got {low}")
    return getattr(tune, kind)(low, high)


def choice_grid(space: dict[str, Any]) -> dict[str, list]:
    """The grid a file's space spans; empty (and unusable by --searcher grid) if any domain is continuous."""
    if all(hasattr(domain, "categories") for domain in space.values()):
        return {name: list(domain.categories) for name, domain in space.items()}
    return {}
