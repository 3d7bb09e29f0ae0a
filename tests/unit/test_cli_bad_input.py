"""Bad input to baseline/tune: one clear line, exit 2, no traceback, old results untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_cli


@pytest.fixture
def earlier_results(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "baseline.json").write_text(json.dumps({"mean_accuracy": 0.5}))
    return out


def _bad_csv(tmp_path: Path, small_covtype: Path, kind: str) -> Path:
    lines = small_covtype.read_text().splitlines()
    bad = tmp_path / f"{kind}.csv"
    if kind == "malformed":
        lines[3] += ",,,"
    elif kind == "missing-column":
        lines = [",".join(line.split(",")[:-2] + line.split(",")[-1:]) for line in lines]
    elif kind == "bad-label":
        lines[1] = ",".join(lines[1].split(",")[:-1] + ["0"])
    bad.write_text("\n".join(lines) + "\n")
    return bad


@pytest.mark.parametrize("kind, fragment", [
    ("malformed", "well-formed"), ("missing-column", "lacks column"), ("bad-label", "unknown label"),
])
def test_bad_csv_via_cli_keeps_earlier_results(tmp_path, small_covtype, earlier_results, kind, fragment):
    before = (earlier_results / "baseline.json").read_bytes()
    proc = run_cli("baseline", "--data", _bad_csv(tmp_path, small_covtype, kind), "--out", earlier_results)
    assert_one_line_error(proc, fragment)
    assert (earlier_results / "baseline.json").read_bytes() == before


@pytest.mark.parametrize("args, fragment", [
    (["baseline", "--data", "/nonexistent/train.csv"], "does not exist"),
    (["baseline", "--folds", "0"], "must be at least 1"),
    (["baseline", "--folds", "1", "--data", "standin"], "at least 2 folds"),
    (["baseline", "--model", "resnet"], "invalid choice"),
    (["baseline", "--rows", "5", "--data", "standin"], "too small"),
    (["tune", "--trials", "many"], "not a whole number"),
    (["tune", "--searcher", "hyperband"], "invalid choice"),
    (["tune", "--placement", "STRICT"], "invalid choice"),
    (["tune", "--holdout", "1.5", "--data", "standin"], "--holdout 1.5: give a share of the rows in [0, 1)"),
    (["tune", "--rescore-folds", "1", "--data", "standin"], "give at least 2 folds and 1 repeat"),
    (["tune", "--data", "standin", "--rows", "60", "--holdout", "0.05"], "cannot hold out a share of every class"),
    (["tune", "--data", "standin", "--rows", "200", "--num-cpus", "1", "--cpus-per-trial", "4"],
     "needs 4 CPUs"),
    (["tune", "--data", "standin", "--rows", "200", "--resume", "--name", "never-ran"], "no earlier run"),
    (["tune", "--data", "standin", "--rows", "200", "--address", "127.0.0.1:1"], "cannot reach"),
])
def test_bad_arguments_get_one_line(tmp_path, args, fragment):
    proc = run_cli(*args, "--out", tmp_path, timeout=300)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "tune.json").exists() and not (tmp_path / "baseline.json").exists()


def test_baseline_writes_json_markdown_and_prints_score(tmp_path, small_covtype):
    proc = run_cli("baseline", "--data", small_covtype, "--folds", "3", "--out", tmp_path, check=True)
    result = json.loads((tmp_path / "baseline.json").read_text())
    assert len(result["fold_scores"]) == 3 and result["data"]["rows"] == 420 and result["data"]["real_data"]
    assert f"{result['mean_accuracy']:.4f}" in proc.stdout
    assert "± " in (tmp_path / "baseline.md").read_text()


def test_stand_in_is_announced_exactly_once(tmp_path):
    proc = run_cli("baseline", "--data", "standin", "--rows", "300", "--folds", "2", "--out", tmp_path,
                   check=True)
    assert proc.stderr.count("NOT the real data") == 1


@pytest.mark.parametrize("env, args, fragment", [
    ({"STACKLAB_RESULTS": "/dev/null/results"}, ["baseline", "--data", "standin", "--rows", "100"],
     "cannot create results directory"),
    ({"RAY_ADDRESS": "127.0.0.1:1"}, ["tune", "--data", "standin", "--rows", "200"], "cannot reach"),
])
def test_bad_environment_variables_get_one_line(env, args, fragment):
    assert_one_line_error(run_cli(*args, env=env, timeout=300), fragment)
