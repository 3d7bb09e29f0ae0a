"""--space files: parsed into Ray Tune domains, every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacklab.core.errors import UserError
from stacklab.tabular.models import get_model
from stacklab.tabular.space_file import choice_grid, load_space


def _space(tmp_path: Path, text: str, model: str = "rf"):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return load_space(path, get_model(model).make({}))


def test_every_kind_parses_and_samples_inside_its_bounds(tmp_path):
    space = _space(tmp_path, "n_estimators: {choice: [20, 40]}\nmax_depth: {randint: [2, 9]}\n"
                             "max_features: {uniform: [0.2, 0.8]}\nccp_alpha: {loguniform: [0.0001, 0.01]}\n")
    for _ in range(20):
        assert space["n_estimators"].sample() in (20, 40)
        assert 2 <= space["max_depth"].sample() < 9
        assert 0.2 <= space["max_features"].sample() <= 0.8
        assert 0.0001 <= space["ccp_alpha"].sample() <= 0.01
    assert choice_grid(space) == {}


def test_choice_only_space_is_a_grid(tmp_path):
    space = _space(tmp_path, '{"n_neighbors": {"choice": [1, 5]}, "weights": {"choice": ["uniform"]}}', "knn")
    assert choice_grid(space) == {"n_neighbors": [1, 5], "weights": ["uniform"]}


@pytest.mark.parametrize("text, fragment", [
    ("n_estimators: {choice: [1, 2]\n", "not valid YAML"),
    ("- a\n- b\n", "non-empty mapping"),
    ("n_trees: {choice: [1, 2]}\n", "not a parameter of this model"),
    ("max_depth: {between: [1, 2]}\n", "is not a domain"),
    ("max_depth: {randint: [9, 2]}\n", "low < high"),
    ("max_depth: {randint: [1.5, 4]}\n", "whole numbers"),
    ("ccp_alpha: {loguniform: [0, 1]}\n", "low > 0"),
    ("max_depth: {choice: []}\n", "non-empty list"),
    ("max_depth: {uniform: [1]}\n", "[low, high]"),
])
def test_bad_space_files(tmp_path, text, fragment):
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        _space(tmp_path, text)


def test_missing_space_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_space(tmp_path / "nope.yaml", get_model("rf").make({}))
