"""Staged CV equals sklearn's own cross_val_score; searchers and schedulers are built right."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from stacklab.core.errors import UserError
from stacklab.data.covtype import make_stand_in
from stacklab.tabular.cv import staged_cv
from stacklab.tabular.models import MODELS, get_model
from stacklab.tabular.search import (
    build_scheduler,
    build_search,
    grid_configs,
    space_size,
    unique_random_configs,
)


@pytest.fixture(scope="module")
def data():
    d = make_stand_in(rows_per_class=40, seed=5)
    return d.X, d.y


@pytest.mark.parametrize("model, params", [
    ("rf", {"n_estimators": 40, "max_depth": 12, "max_features": "sqrt", "bootstrap": True}),
    ("extratrees", {"n_estimators": 24, "min_samples_leaf": 2}),
    ("knn", {"n_neighbors": 7}),
    ("dtree", {"max_depth": 6}),
])
def test_staged_cv_final_stage_equals_cross_val_score(data, model, params) -> None:
    X, y = data
    spec = get_model(model)
    stages = list(staged_cv(spec, params, X, y, folds=4, seed=11))
    expected = cross_val_score(
        spec.make(params, seed=11), X, y, cv=StratifiedKFold(4, shuffle=True, random_state=11)
    )
    assert stages[-1].score == pytest.approx(expected.mean(), abs=1e-12)
    assert stages[-1].fold_scores == pytest.approx(list(expected), abs=1e-12)
    # resource grows stage by stage: more trees, or more folds
    assert [s.resource for s in stages] == sorted({s.resource for s in stages})


@pytest.mark.parametrize("model", ["rf", "knn"])
def test_final_stage_only_gives_the_same_score_in_one_stage(data, model) -> None:
    X, y = data
    spec = get_model(model)
    params = {"n_estimators": 24} if spec.grows else {}
    every = list(staged_cv(spec, params, X, y, folds=3, seed=5))
    final = list(staged_cv(spec, params, X, y, folds=3, seed=5, every_stage=False))
    assert len(final) == 1 and final[0].index == 1
    assert final[0].fold_scores == pytest.approx(every[-1].fold_scores, abs=1e-12)
    assert final[0].resource == every[-1].resource


def test_forest_stages_grow_to_the_configured_size(data) -> None:
    X, y = data
    stages = list(staged_cv(get_model("rf"), {"n_estimators": 80}, X, y, folds=3))
    assert [s.resource for s in stages] == [10, 20, 40, 80]


def test_random_configs_are_unique_and_inside_the_space() -> None:
    space = get_model("rf").space
    configs = unique_random_configs(space, 40, seed=2)
    keys = {json.dumps(c, sort_keys=True) for c in configs}
    assert len(keys) == len(configs) == 40
    for config in configs:
        for key, domain in space.items():
            assert config[key] in domain.categories


def test_random_configs_stop_at_the_space_size() -> None:
    from ray import tune

    space = {"a": tune.choice([1, 2]), "b": tune.choice(["x", "y", "z"])}
    assert space_size(space) == 6
    configs = unique_random_configs(space, 50, seed=0)
    assert len(configs) == 6 and len({json.dumps(c, sort_keys=True) for c in configs}) == 6


def test_grid_covers_the_product() -> None:
    grid = get_model("rf").grid
    configs = grid_configs(grid)
    assert len(configs) == np.prod([len(v) for v in grid.values()])
    _, num_samples, space = build_search("grid", get_model("rf").space, grid, 3, 0, 2)
    assert num_samples == len(configs) and set(space) == set(grid)


def test_unknown_names_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown searcher"):
        build_search("hyperband-typo", {}, {}, 2, 0, 1)
    with pytest.raises(UserError, match="unknown scheduler"):
        build_scheduler("pbt-typo", 4)
    with pytest.raises(UserError, match="unknown model"):
        get_model("resnet")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_registered_model_fits_its_defaults(model, data) -> None:
    X, y = data
    estimator = get_model(model).make(get_model(model).defaults, n_jobs=1, seed=0).fit(X, y)
    assert (estimator.predict(X[:10]) >= 1).all()


def test_forest_cost_ranks_trees_features_and_bootstrap() -> None:
    from stacklab.tabular.search import forest_cost

    def cost(**config):
        return forest_cost({"n_estimators": 100, "bootstrap": False, **config}, "n_estimators", 54)

    assert cost(n_estimators=200) == 2 * cost()
    assert cost(max_features=None) > cost(max_features=0.5) > cost(max_features="sqrt") > cost(max_features="log2")
    assert cost(bootstrap=True) < cost()


def test_random_search_runs_the_costliest_forest_configs_first() -> None:
    from stacklab.tabular.search import forest_cost

    searcher, num_samples, _ = build_search("random", get_model("rf").space, {}, 12, 0, 2,
                                            grows="n_estimators", n_features=54)
    costs = [forest_cost(c, "n_estimators", 54) for c in searcher._points_to_evaluate]
    assert len(costs) == num_samples == 12 and costs == sorted(costs, reverse=True)


class _Captured(Exception):
    pass


@pytest.mark.parametrize(("args", "reuse"), [
    ([], True), (["--smoke-test"], False), (["--smoke-test", "--reuse-actors"], True), (["--no-reuse-actors"], False),
])
def test_smoke_test_gives_every_trial_a_fresh_actor_unless_asked(monkeypatch, args, reuse) -> None:
    import stacklab.tabular.tune
    from stacklab.cli import run

    def capture(settings):
        raise _Captured(settings)

    monkeypatch.setattr(stacklab.tabular.tune, "run_tune", capture)
    with pytest.raises(_Captured) as caught:
        run(["tune", *args])
    settings = caught.value.args[0]
    assert settings.reuse_actors is reuse
    assert (settings.trials, settings.rows) == ((4, 1400) if "--smoke-test" in args else (16, None))
