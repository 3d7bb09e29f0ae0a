"""The Kaggle forest-cover CSV layout, its validation, and the stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stacklab.core.errors import UserError
from stacklab.data.covtype import (
    FEATURE_COLUMNS,
    KAGGLE_COLUMNS,
    make_stand_in,
    read_kaggle_csv,
    write_kaggle_csv,
)
from stacklab.data.tabular import load_dataset


def test_csv_round_trip_keeps_every_value(tmp_path: Path) -> None:
    data = make_stand_in(rows_per_class=20, seed=1)
    path = write_kaggle_csv(data, tmp_path / "train.csv")
    assert path.read_text().splitlines()[0].split(",") == KAGGLE_COLUMNS
    back = read_kaggle_csv(path)
    np.testing.assert_array_equal(back.X, data.X)
    np.testing.assert_array_equal(back.y, data.y)
    assert back.real and back.X.shape == (140, 54)


def test_stand_in_has_the_kaggle_shape_and_is_deterministic() -> None:
    a, b = make_stand_in(seed=0), make_stand_in(seed=0)
    assert a.X.shape == (15120, 54) and sorted(set(a.y)) == list(range(1, 8))
    assert np.bincount(a.y)[1:].tolist() == [2160] * 7
    np.testing.assert_array_equal(a.X, b.X)
    # one-hot blocks: exactly one wilderness area and one soil type per row
    assert (a.X[:, 10:14].sum(axis=1) == 1).all() and (a.X[:, 14:].sum(axis=1) == 1).all()
    assert not a.real


def test_id_column_is_optional(small_covtype: Path, tmp_path: Path) -> None:
    lines = small_covtype.read_text().splitlines()
    no_id = tmp_path / "noid.csv"
    no_id.write_text("\n".join(",".join(line.split(",")[1:]) for line in lines) + "\n")
    assert read_kaggle_csv(no_id).X.shape == read_kaggle_csv(small_covtype).X.shape


def _edit(src: Path, dst: Path, fn) -> Path:
    lines = src.read_text().splitlines()
    dst.write_text("\n".join(fn(lines)) + "\n")
    return dst


@pytest.mark.parametrize(
    "name, edit, fragment",
    [
        ("missing column", lambda ls: [",".join(x.split(",")[:-2] + x.split(",")[-1:]) for x in ls], "lacks column"),
        ("extra column", lambda ls: [ls[0] + ",Bonus"] + [x + ",1" for x in ls[1:]], "unexpected column"),
        ("non-numeric cell", lambda ls: [ls[0], ls[1].replace(ls[1].split(",")[1], "tall", 1), *ls[2:]], "not a number"),
        ("empty cell", lambda ls: [ls[0], ",".join([ls[1].split(",")[0], "", *ls[1].split(",")[2:]]), *ls[2:]], "not a number"),
        ("unknown label", lambda ls: [ls[0], ",".join(ls[1].split(",")[:-1] + ["9"]), *ls[2:]], "unknown label"),
        ("header only", lambda ls: ls[:1], "no rows"),
        ("ragged row", lambda ls: [ls[0], ls[1] + ",1,2,3", *ls[2:]], "well-formed"),
    ],
)
def test_bad_csv_gets_a_clear_error(small_covtype: Path, tmp_path: Path, name, edit, fragment) -> None:
    bad = _edit(small_covtype, tmp_path / "bad.csv", edit)
    with pytest.raises(UserError, match=fragment):
        read_kaggle_csv(bad)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        read_kaggle_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="empty"):
        read_kaggle_csv(tmp_path / "empty.csv")


def test_subsample_is_stratified_and_bundled_sets_load() -> None:
    data = load_dataset("covtype", "standin", rows=700, seed=0)
    assert len(data.y) == 700 and np.bincount(data.y)[1:].tolist() == [100] * 7
    for name in ("iris", "wine", "digits", "breast_cancer"):
        assert load_dataset(name).real
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("mnist-typo")


def test_feature_columns_count() -> None:
    assert len(FEATURE_COLUMNS) == 54
