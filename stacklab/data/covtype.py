"""Forest-cover data: the Kaggle train.csv, sklearn's covtype fetch, or a stand-in.

The Kaggle competition's train.csv has 15,120 rows, 2,160 per class: Id, ten
numeric columns, Wilderness_Area1-4, Soil_Type1-40, Cover_Type (1-7).
sklearn's fetch_covtype gives the full 581,012-row UCI table with the same 54
features; we take a class-balanced 15,120-row sample of it so that both real
sources pose the same problem.
"""

from __future__ import annotations

import csv
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stacklab.core.errors import UserError
from stacklab.core.offline import announce_stand_in

NUMERIC_COLUMNS = [
    "Elevation",
    "Aspect",
    "Slope",
    "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways",
    "Hillshade_9am",
    "Hillshade_Noon",
    "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points",
]
WILDERNESS_COLUMNS = [f"Wilderness_Area{i}" for i in range(1, 5)]
SOIL_COLUMNS = [f"Soil_Type{i}" for i in range(1, 41)]
FEATURE_COLUMNS = NUMERIC_COLUMNS + WILDERNESS_COLUMNS + SOIL_COLUMNS
LABEL_COLUMN = "Cover_Type"
ID_COLUMN = "Id"
KAGGLE_COLUMNS = [ID_COLUMN, *FEATURE_COLUMNS, LABEL_COLUMN]
CLASSES = list(range(1, 8))
KAGGLE_ROWS_PER_CLASS = 2160


@dataclass
class Dataset:
    """Features, labels and where they came from."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str
    real: bool
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "rows": int(self.X.shape[0]),
            "features": int(self.X.shape[1]),
            "classes": int(len(np.unique(self.y))),
            "source": self.source,
            "real_data": self.real,
        }


def read_kaggle_csv(path: str | Path) -> Dataset:
    """Parse a Kaggle forest-cover train.csv, rejecting anything off-schema."""
    path = Path(path)
    hint = "give the Kaggle forest-cover train.csv (Id, 54 feature columns, Cover_Type)"
    if not path.is_file():
        raise UserError(f"data file {path} does not exist: {hint}")
    if path.stat().st_size == 0:
        raise UserError(f"data file {path} is empty: {hint}")
    _check_rectangular(path, hint)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a well-formed CSV ({first}): {hint}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path} has no header or rows: {hint}") from None
    missing = [c for c in KAGGLE_COLUMNS if c not in frame.columns and c != ID_COLUMN]
    if missing:
        raise UserError(f"{path} lacks column(s) {_few(missing)}: {hint}")
    extra = [c for c in frame.columns if c not in KAGGLE_COLUMNS]
    if extra:
        raise UserError(f"{path} has unexpected column(s) {_few(extra)}: {hint}")
    if frame.empty:
        raise UserError(f"{path} has a header but no rows: {hint}")
    numbers = frame[FEATURE_COLUMNS + [LABEL_COLUMN]].apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() | frame[FEATURE_COLUMNS + [LABEL_COLUMN]].eq("")
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        column = bad.columns[col]
        value = frame[column].iloc[row]
        raise UserError(
            f"{path} line {row + 2}, column {column}: {value!r} is not a number: fix or drop that row"
        )
    labels = numbers[LABEL_COLUMN]
    unknown = sorted(set(labels.unique()) - set(CLASSES))
    if unknown:
        raise UserError(
            f"{path}: Cover_Type has unknown label(s) {_few(unknown)}; expected integers 1-7: fix the labels"
        )
    return Dataset(
        name="covtype",
        X=numbers[FEATURE_COLUMNS].to_numpy(dtype=np.float32),
        y=labels.to_numpy(dtype=np.int64),
        feature_names=list(FEATURE_COLUMNS),
        source=f"kaggle-csv:{path}",
        real=True,
    )


def _check_rectangular(path: Path, hint: str) -> None:
    """Every row has the header's field count (pandas would silently shift or drop fields)."""
    try:
        with path.open(newline="") as handle:
            rows = csv.reader(handle)
            width = len(next(rows, []))
            for number, row in enumerate(rows, start=2):
                if row and len(row) != width:
                    raise UserError(
                        f"{path} is not a well-formed CSV (line {number} has {len(row)} fields, "
                        f"the header {width}): {hint}"
                    )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path} is not a well-formed CSV ({exc}): {hint}") from None


def write_kaggle_csv(dataset: Dataset, path: str | Path) -> Path:
    """Write a dataset in the Kaggle train.csv layout (used for tests and the stand-in)."""
    frame = pd.DataFrame(dataset.X, columns=FEATURE_COLUMNS).astype(np.int64)
    frame.insert(0, ID_COLUMN, np.arange(1, len(frame) + 1))
    frame[LABEL_COLUMN] = dataset.y
    path = Path(path)
    frame.to_csv(path, index=False)
    return path


def fetch_sklearn_covtype(timeout_s: float = 15.0, seed: int = 0) -> Dataset | None:
    """sklearn's covtype (cached after the first download), balanced to the Kaggle size.

    Returns None when it is neither cached nor downloadable.
    """
    from sklearn.datasets import fetch_covtype

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bunch = fetch_covtype(download_if_missing=True, n_retries=0)
    except Exception:  # noqa: BLE001 - any download failure means "not reachable"
        return None
    finally:
        socket.setdefaulttimeout(old)
    rng = np.random.default_rng(seed)
    picks = np.concatenate(
        [rng.choice(np.flatnonzero(bunch.target == c), KAGGLE_ROWS_PER_CLASS, replace=False) for c in CLASSES]
    )
    picks.sort()
    return Dataset(
        name="covtype",
        X=bunch.data[picks].astype(np.float32),
        y=bunch.target[picks].astype(np.int64),
        feature_names=list(FEATURE_COLUMNS),
        source="sklearn.fetch_covtype (balanced 15,120-row sample)",
        real=True,
    )


def make_stand_in(rows_per_class: int = KAGGLE_ROWS_PER_CLASS, seed: int = 0) -> Dataset:
    """A deterministic covtype-shaped table: same columns, value ranges and classes.

    Class structure is planted in the numeric columns (overlapping Gaussians),
    in the wilderness area and in the soil type, so trees score well but not
    perfectly, as on the real data.
    """
    rng = np.random.default_rng(seed)
    n = rows_per_class * len(CLASSES)
    y = np.repeat(np.array(CLASSES), rows_per_class)
    centers = rng.normal(0, 1.0, size=(len(CLASSES), len(NUMERIC_COLUMNS)))
    latent = centers[y - 1] + rng.normal(0, 1.1, size=(n, len(NUMERIC_COLUMNS)))
    scale = np.array([280, 110, 8, 210, 60, 1300, 25, 20, 45, 1100])
    offset = np.array([2750, 156, 16, 230, 50, 1700, 212, 219, 135, 1500])
    numeric = np.rint(latent * scale + offset)
    numeric[:, 6:9] = np.clip(numeric[:, 6:9], 0, 255)
    numeric[:, [0, 1, 2, 3, 5, 9]] = np.abs(numeric[:, [0, 1, 2, 3, 5, 9]])
    area_pref = rng.dirichlet(np.ones(4) * 0.7, size=len(CLASSES))
    soil_pref = rng.dirichlet(np.ones(40) * 0.3, size=len(CLASSES))
    area = np.array([rng.choice(4, p=area_pref[c - 1]) for c in y])
    soil = np.array([rng.choice(40, p=soil_pref[c - 1]) for c in y])
    X = np.zeros((n, len(FEATURE_COLUMNS)), dtype=np.float32)
    X[:, : len(NUMERIC_COLUMNS)] = numeric
    X[np.arange(n), len(NUMERIC_COLUMNS) + area] = 1
    X[np.arange(n), len(NUMERIC_COLUMNS) + 4 + soil] = 1
    order = rng.permutation(n)
    return Dataset(
        name="covtype",
        X=X[order],
        y=y[order].astype(np.int64),
        feature_names=list(FEATURE_COLUMNS),
        source="offline stand-in (synthetic, covtype schema)",
        real=False,
    )


def load_covtype(source: str = "auto", seed: int = 0) -> Dataset:
    """Load forest-cover data.

    source: a path to a Kaggle train.csv; "sklearn" (must succeed); "standin";
    or "auto": ./data/train.csv if present, else sklearn's fetch, else the
    stand-in (announced once on stderr).
    """
    if source == "standin":
        announce_stand_in("covtype", "requested with --data standin")
        return make_stand_in(seed=seed)
    if source == "sklearn":
        data = fetch_sklearn_covtype(seed=seed)
        if data is None:
            raise UserError(
                "sklearn's covtype download is unreachable and not cached: "
                "pass --data PATH/TO/train.csv or --data standin"
            )
        return data
    if source == "auto":
        local = Path("data/train.csv")
        if local.is_file():
            return read_kaggle_csv(local)
        data = fetch_sklearn_covtype(seed=seed)
        if data is not None:
            return data
        announce_stand_in("covtype", "no data/train.csv and sklearn's download is unreachable")
        return make_stand_in(seed=seed)
    return read_kaggle_csv(source)


def _few(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:5])
    return shown + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
