"""`stacklab tune`: Ray Tune hyperparameter search (part ray_tuning/)."""

from __future__ import annotations

import argparse

from stacklab.commands.common import add_data_args, positive_int
from stacklab.tabular.models import MODELS
from stacklab.tabular.search import SCHEDULERS, SEARCHERS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("tune", help="search a model's hyperparameters with Ray Tune")
    add_data_args(parser)
    parser.add_argument("--model", default="rf", choices=list(MODELS))
    parser.add_argument("--searcher", default="optuna", choices=SEARCHERS)
    parser.add_argument("--scheduler", default="asha", choices=SCHEDULERS)
    parser.add_argument("--trials", type=positive_int, default=16)
    parser.add_argument("--space", dest="space_file", default=None,
                        help="YAML/JSON search space replacing the model's (see stacklab/tabular/space_file.py)")
    parser.add_argument("--folds", type=positive_int, default=5)
    parser.add_argument("--holdout", type=float, default=None,
                        help="share of the rows the search never sees, on which the chosen config and the "
                             "defaults are scored afterwards (default 0.25; 0: no held-out scoring)")
    parser.add_argument("--rescore-folds", type=positive_int, default=None,
                        help="folds of the held-out rows (default 3)")
    parser.add_argument("--rescore-repeats", type=positive_int, default=None,
                        help="repeats of those folds with new shuffles (default 3)")
    parser.add_argument("--cpus-per-trial", type=positive_int, default=1)
    parser.add_argument("--placement", default="PACK", choices=["PACK", "SPREAD"],
                        help="strategy of each trial's placement group")
    parser.add_argument("--address", default=None,
                        help="Ray cluster (e.g. auto, ray://head:10001); default: local Ray, or the "
                             "cluster when run by `ray job submit`")
    parser.add_argument("--num-cpus", type=positive_int, default=None, help="CPUs of a local Ray")
    parser.add_argument("--storage", default=None,
                        help="experiment storage: a directory or s3:// URI (default $STACKLAB_STORAGE, else under --out)")
    parser.add_argument("--name", default=None, help="experiment name (default tune-<timestamp>)")
    parser.add_argument("--resume", action="store_true", help="continue the latest (or --name) run")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a trial whose node died")
    parser.add_argument("--reuse-actors", action=argparse.BooleanOptionalAction, default=None,
                        help="reuse trial actors between trials (default: yes; no with --smoke-test)")
    parser.add_argument("--smoke-test", action="store_true", help="tiny run for CI")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stacklab.tabular.tune import TuneSettings, run_tune
    from stacklab.tabular.tune_report import held_out_line

    fields = {k: v for k, v in vars(args).items() if k in TuneSettings.__dataclass_fields__ and v is not None}
    settings = TuneSettings.smoke(**{k: v for k, v in fields.items() if k not in ("rows", "folds", "trials")}) \
        if args.smoke_test else TuneSettings(**fields)
    summary = run_tune(settings)
    print(
        f"best CV accuracy {summary['best']['accuracy']:.4f} (default parameters "
        f"{summary['default']['accuracy']:.4f}, {summary['improvement']:+.4f}) over {summary['num_trials']} trials "
        f"on {len(summary['nodes'])} node(s) in {summary['wall_seconds']:.1f} s; best config {summary['best']['config']}"
    )
    if "rescore" in summary:
        print(held_out_line(summary["rescore"]))
    print(f"results: {summary['experiment']} and {args.out or 'results/ray_tuning'}/tune.json")
    return 0
