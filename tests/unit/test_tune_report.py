"""tune.json -> tune.md and plots: the held-out verdict stated plainly, no plot without content."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacklab.tabular.rescore import compare
from stacklab.tabular.tune_report import held_out_line, tune_markdown, tune_plots, verdict_words


def summary(curves: list[list[float]], rescore: dict | None) -> dict:
    trials = [{"trial_id": f"t{i}", "config": {"max_depth": 10 * (i + 1)}, "accuracy": c[-1], "iterations": len(c),
               "completed": len(c) == 4 or len(curves[0]) == 1, "seconds": 2.0, "node_ip": "10.0.0.1",
               "finished_at": i, "curve": c} for i, c in enumerate(curves)]
    out = {"settings": {"model": "rf", "searcher": "optuna", "scheduler": "asha", "folds": 3},
           "data": {"name": "covtype", "source": "a test stand-in", "real_data": False},
           "num_trials": len(trials), "cluster_cpus": 2, "nodes": ["10.0.0.1"], "num_errors": 0,
           "best": {"config": {"max_depth": 10}, "accuracy": 0.81}, "default": {"accuracy": 0.8},
           "improvement": 0.01, "wall_seconds": 10.0, "trial_seconds": 8.0, "trials": trials}
    if rescore is not None:
        out["rescore"] = rescore
    return out


def rescored(default: list[float], tuned: list[float], same: bool = False) -> dict:
    return {"holdout_rows": 75, "folds": 3, "repeats": 1, "same_config": same,
            **compare(default, tuned, n_train=250, n_test=25)}


@pytest.mark.parametrize(("default", "tuned", "same", "words"), [
    ([0.70, 0.72, 0.71], [0.75, 0.77, 0.76], False, "a real gain"),
    ([0.70, 0.76, 0.71], [0.74, 0.72, 0.73], False, "within noise, NOT a demonstrated gain"),
    ([0.70, 0.72, 0.71], [0.70, 0.72, 0.71], True, "no gain: the search chose the defaults themselves"),
])
def test_the_held_out_verdict_is_said_plainly(default, tuned, same, words):
    r = rescored(default, tuned, same)
    assert verdict_words(r) == words
    line = held_out_line(r)
    assert line.startswith("held-out (75 rows never seen by the search, 3 folds x 1 repeats)") and line.endswith(words)
    assert f"- {line}\n" in tune_markdown(summary([[0.8]], r))


def test_without_held_out_rows_the_page_says_there_is_no_unbiased_score():
    page = tune_markdown(summary([[0.8]], None))
    assert "no held-out rows (--holdout 0): no unbiased score" in page and "overstates it" in page


def test_learning_curves_are_drawn_only_when_trials_have_stages(tmp_path: Path):
    (tmp_path / "asha").mkdir()
    (tmp_path / "fifo").mkdir()
    staged = tune_plots(summary([[0.7, 0.75, 0.78, 0.8], [0.6, 0.65]], None), None, tmp_path / "asha")
    assert [p.name for p in staged] == ["tune_scores.png", "tune_best_so_far.png", "tune_curves.png"]
    single = tune_plots(summary([[0.8], [0.7]], None), None, tmp_path / "fifo")
    assert [p.name for p in single] == ["tune_scores.png", "tune_best_so_far.png"]
    assert all(p.stat().st_size > 5000 for p in staged + single)
