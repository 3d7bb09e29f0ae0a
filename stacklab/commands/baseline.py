"""`stacklab baseline`: default-parameter CV (part tuning/)."""

from __future__ import annotations

import argparse

from stacklab.commands.common import add_data_args, positive_int
from stacklab.tabular.models import MODELS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("baseline", help="cross-validate a model with default parameters")
    add_data_args(parser)
    parser.add_argument("--model", default="rf", choices=list(MODELS))
    parser.add_argument("--folds", type=positive_int, default=5)
    parser.add_argument("--n-jobs", type=positive_int, default=1, help="CPUs for the fit (no -1: no oversubscription)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stacklab.tabular.baseline import run_baseline

    result = run_baseline(args.data, args.dataset, args.model, args.folds, args.seed, args.n_jobs, args.rows, args.out)
    print(
        f"{result['model']} (default parameters), {result['folds']}-fold CV on {result['data']['rows']} rows: "
        f"accuracy {result['mean_accuracy']:.4f} +- {result['std_accuracy']:.4f} in {result['seconds']:.1f} s"
    )
    return 0
