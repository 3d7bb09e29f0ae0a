"""`stacklab lab`: the main job, every part on this machine at a small size."""

from __future__ import annotations

import argparse
from pathlib import Path

from stacklab.core.results import DEFAULT_RESULTS_DIR
from stacklab.parts import lab_steps


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("lab", help="run every part on this machine (local Ray, local FEDn)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR, help="results root directory")
    parser.add_argument("--parts", nargs="+", default=None,
                        help=f"only these parts, of: {', '.join(name for name, _ in lab_steps())}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stacklab.lab import run_lab

    run_lab(args.results, args.parts)
    return 0
