"""Ray Tune on a local Ray: every searcher and scheduler, results, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sklearn.model_selection import cross_val_score

from stacklab.data.tabular import load_dataset
from stacklab.tabular.cv import fold_splitter
from stacklab.tabular.models import get_model
from stacklab.tabular.rescore import holdout_split
from stacklab.tabular.tune import TuneSettings, run_tune
from tests.conftest import REPO, STACKLAB

pytestmark = pytest.mark.slow


def _inside_space(model: str, config: dict) -> bool:
    spec = get_model(model)
    for key, value in config.items():
        domain = spec.space[key]
        if hasattr(domain, "categories"):
            if value not in domain.categories:
                return False
        elif not domain.lower <= value <= domain.upper:
            return False
    return True


# Each searcher and each scheduler at least once (the full 4x2 matrix costs CI minutes, not coverage).
@pytest.mark.parametrize("searcher, scheduler",
                         [("random", "asha"), ("grid", "fifo"), ("optuna", "asha"), ("bayes", "fifo")])
def test_searcher_and_scheduler_find_a_config_inside_the_space(local_ray, tmp_path, searcher, scheduler):
    model = "dtree" if searcher == "grid" else "rf"
    summary = run_tune(TuneSettings(
        model=model, data="standin", rows=350, folds=3, trials=4, searcher=searcher, scheduler=scheduler,
        out=str(tmp_path), seed=1,
    ))
    assert summary["num_errors"] == 0
    assert _inside_space(model, summary["best"]["config"])
    complete = [t for t in summary["trials"] if t["completed"]]
    assert summary["best"]["accuracy"] == max(t["accuracy"] for t in complete)
    assert 0.3 < summary["default"]["accuracy"] <= 1.0
    saved = json.loads((tmp_path / "tune.json").read_text())
    assert saved["best"] == summary["best"] and len(saved["trials"]) == summary["num_trials"]
    assert (tmp_path / "tune_scores.png").stat().st_size > 1000
    # learning curves exist only where trials report stages (ASHA); under FIFO they would repeat the scores
    staged = any(len(t["curve"]) > 1 for t in summary["trials"])
    assert (tmp_path / "tune_curves.png").exists() == staged
    assert staged == (scheduler == "asha")
    assert "| trial |" in (tmp_path / "tune.md").read_text()
    if searcher == "grid":
        assert summary["num_trials"] == 12  # the dtree grid: 3 x 2 x 2
    if scheduler == "asha" and searcher == "random":
        # ASHA's rungs: some trial stops before the last stage
        assert any(not t["completed"] for t in summary["trials"])


def test_asha_spends_less_compute_than_fifo_on_the_same_configs(local_ray, tmp_path):
    common = dict(model="rf", data="standin", rows=700, folds=3, trials=8, searcher="random", seed=4)
    fifo = run_tune(TuneSettings(**common, scheduler="fifo", out=str(tmp_path / "fifo")))
    asha = run_tune(TuneSettings(**common, scheduler="asha", out=str(tmp_path / "asha")))
    # FIFO reports once, at the full size; ASHA reports per stage and stops some trials early.
    assert [t["iterations"] for t in fifo["trials"]] == [1] * 8
    assert max(t["iterations"] for t in asha["trials"]) == 4
    trees = lambda s: sum(t["resource"] for t in s["trials"])  # noqa: E731
    assert trees(asha) < trees(fifo) == sum(t["config"]["n_estimators"] for t in fifo["trials"])
    # Under FIFO the default score is the first trial's (the defaults); under ASHA it is
    # computed beside the trials. Both equal sklearn's CV of the defaults on the same folds.
    # The search sees only the rows not held out for the tuned-vs-default comparison.
    spec = get_model("rf")
    data = load_dataset("covtype", "standin", rows=700, seed=4)
    search, held = holdout_split(data.y, 0.25, seed=4, folds=3)
    expected = cross_val_score(spec.make(spec.defaults, seed=4), data.X[search], data.y[search],
                               cv=fold_splitter(3, 4))
    for summary in (fifo, asha):
        assert summary["default"]["fold_scores"] == pytest.approx(list(expected), abs=1e-12)
        r = summary["rescore"]
        assert (r["search_rows"], r["holdout_rows"], len(r["splits"])) == (len(search), len(held), 9)
        assert r["tuned_params"] == summary["best"]["config"] and r["default_params"] == spec.defaults


def test_interrupted_run_resumes_without_rerunning_finished_trials(tmp_path: Path):
    args = ["tune", "--data", "standin", "--rows", "2800", "--folds", "3", "--trials", "8",
            "--searcher", "random", "--scheduler", "fifo", "--num-cpus", "2", "--out", str(tmp_path),
            "--name", "run1"]
    log = tmp_path / "first.log"
    with log.open("w") as handle:
        first = subprocess.Popen([*STACKLAB, *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and log.read_text().count("completed after") < 2:
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) == 2
    text = log.read_text()
    assert "--resume --name run1" in text and "Traceback" not in text.split("stacklab: error:")[0][-200:]
    done_first = {line.split()[1] for line in text.splitlines() if "completed after" in line}
    assert 2 <= len(done_first) < 8
    assert not (tmp_path / "tune.json").exists()

    second = subprocess.run([*STACKLAB, *args, "--resume"], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    done_second = {line.split()[1] for line in (second.stdout + second.stderr).splitlines()
                   if "completed after" in line}
    assert not done_first & done_second, "finished trials were run again"
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert summary["num_trials"] == 8 and all(t["completed"] for t in summary["trials"])


def test_space_file_replaces_the_model_space(local_ray, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("n_estimators: {choice: [8, 16]}\nmax_depth: {choice: [3, 5]}\n")
    summary = run_tune(TuneSettings(model="rf", data="standin", rows=300, folds=3, trials=10,
                                    searcher="grid", scheduler="fifo", space_file=str(space), out=str(tmp_path)))
    configs = sorted((t["config"]["n_estimators"], t["config"]["max_depth"]) for t in summary["trials"])
    assert configs == [(8, 3), (8, 5), (16, 3), (16, 5)]
