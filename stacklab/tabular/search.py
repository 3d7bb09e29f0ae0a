"""Search algorithms and schedulers for Ray Tune, built from their names."""

from __future__ import annotations

import itertools
import json
import math
from typing import TYPE_CHECKING, Any

from stacklab.core.errors import UserError

if TYPE_CHECKING:  # Ray loads when a search is built, not when the CLI lists the names
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher

SEARCHERS = ["random", "grid", "optuna", "bayes"]
SCHEDULERS = ["fifo", "asha"]
METRIC, MODE = "accuracy", "max"


def space_size(space: dict[str, Any]) -> float:
    """Number of distinct configs, or inf when a dimension is continuous."""
    from ray.tune.search.sample import Categorical, Domain, Integer

    size = 1.0
    for domain in space.values():
        if isinstance(domain, Categorical):
            size *= len(domain.categories)
        elif isinstance(domain, Integer) and domain.sampler.__class__.__name__ == "_Uniform":
            size *= domain.upper - domain.lower
        elif isinstance(domain, Domain):
            return math.inf
    return size


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def unique_random_configs(
    space: dict[str, Any], trials: int, seed: int, first: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Up to ``trials`` random configs, no two alike (a repeated config wastes a trial)."""
    import numpy as np
    from ray.tune.search.sample import Domain

    rng = np.random.RandomState(seed)
    configs: list[dict[str, Any]] = [first] if first else []
    seen: set[str] = {_key(c) for c in configs}
    budget = min(trials, space_size(space))
    attempts = 0
    while len(configs) < budget and attempts < 100 * trials:
        attempts += 1
        config = {
            key: domain.sample(random_state=rng) if isinstance(domain, Domain) else domain
            for key, domain in space.items()
        }
        config = {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
        key = _key(config)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs


def forest_cost(config: dict[str, Any], grows: str, n_features: int) -> float:
    """Relative fit cost of a forest config: trees x features tried per split x distinct rows.

    Only the order matters (longest trials first), so the constants are rough.
    """
    trees = float(config.get(grows) or 100)
    setting = config.get("max_features", "sqrt")
    if setting in ("sqrt", "auto"):
        per_split = math.sqrt(n_features)
    elif setting == "log2":
        per_split = math.log2(n_features)
    elif isinstance(setting, float):
        per_split = setting * n_features
    elif isinstance(setting, int):
        per_split = setting
    else:  # None: every feature
        per_split = n_features
    # A bootstrap sample holds about 63% distinct rows; sklearn sorts only those.
    rows = 0.63 if config.get("bootstrap", True) else 1.0
    return trees * max(1.0, per_split) * rows


def grid_configs(grid: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def build_search(
    name: str,
    space: dict[str, Any],
    grid: dict[str, list],
    trials: int,
    seed: int,
    max_concurrent: int,
    start: dict[str, Any] | None = None,
    grows: str | None = None,
    n_features: int = 1,
) -> tuple[Searcher, int, dict[str, Any]]:
    """(search algorithm, num_samples, param_space) for Tuner; ``start`` is tried first."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if name == "random":
        configs = unique_random_configs(space, trials, seed, first=start)
        if grows:
            # Longest first: the last trials are then short, so no CPU idles long at the end.
            configs.sort(key=lambda c: -forest_cost(c, grows, n_features))
        return BasicVariantGenerator(points_to_evaluate=configs, random_state=seed), len(configs), space
    if name == "grid":
        if not grid:
            raise UserError("--searcher grid needs a space of choices only: use {choice: [...]} for every parameter")
        configs = grid_configs(grid)
        # The space is the grid itself, so no dimension outside it is sampled.
        grid_space = {key: tune.choice(values) for key, values in grid.items()}
        return BasicVariantGenerator(points_to_evaluate=configs), len(configs), grid_space
    if name in ("optuna", "bayes"):
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = (
            optuna.samplers.TPESampler(seed=seed)
            if name == "optuna"
            else optuna.samplers.GPSampler(seed=seed)  # Gaussian-process Bayesian optimisation
        )
        searcher = OptunaSearch(sampler=sampler, metric=METRIC, mode=MODE,
                                points_to_evaluate=[start] if start else None)
        # Model-based searchers learn only from finished trials: cap concurrency.
        return ConcurrencyLimiter(searcher, max_concurrent=max(1, max_concurrent)), trials, space
    raise UserError(f"unknown searcher {name!r}: choose one of {', '.join(SEARCHERS)}")


def build_scheduler(name: str, stages: int) -> TrialScheduler:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if name == "fifo":
        return FIFOScheduler()
    if name == "asha":
        # One rung per stage (trees or folds): a trial below the rung's median stops.
        return ASHAScheduler(time_attr="training_iteration", max_t=stages, grace_period=1, reduction_factor=2)
    raise UserError(f"unknown scheduler {name!r}: choose one of {', '.join(SCHEDULERS)}")

