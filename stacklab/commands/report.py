"""`stacklab report`: gather results into docs/results.md and docs/answers.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from stacklab.core.results import DEFAULT_RESULTS_DIR


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="render docs/results.md and docs/answers.md from results/")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR)
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--stored", action="store_true", help="re-render from docs/data only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stacklab.report.pages import build

    for path in build(args.results, args.docs, stored_only=args.stored):
        print(f"written: {path}")
    return 0
