"""Arguments several commands share, defined once."""

from __future__ import annotations

import argparse

from stacklab.data.tabular import DATASETS


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="auto",
                        help="Kaggle train.csv path, 'sklearn', 'standin', or 'auto' (default)")
    parser.add_argument("--dataset", default="covtype", choices=DATASETS)
    parser.add_argument("--rows", type=int, default=None, help="stratified subsample of this many rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="results directory (default results/<part>)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value
