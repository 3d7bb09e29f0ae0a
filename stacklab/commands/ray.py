"""`stacklab ray submit <part> -- <args>`: a Ray job in the part's head container."""

from __future__ import annotations

import argparse
from pathlib import Path

from stacklab.cluster import deploy
from stacklab.core.results import part_dir
from stacklab.parts import ray_entries


def _submit(args: argparse.Namespace) -> int:
    extra = list(args.job_args)
    if "--" in extra:  # options given after the part: `ray submit ray_tuning --out X -- ...`
        cut = extra.index("--")
        ours, extra = extra[:cut], extra[cut + 1:]
        opts = argparse.ArgumentParser(prog="stacklab ray submit", add_help=False)
        opts.add_argument("--out", default=args.out)
        opts.add_argument("--no-wait", action="store_true", default=args.no_wait)
        parsed = opts.parse_args(ours)
        args.out, args.no_wait = parsed.out, parsed.no_wait
    results = part_dir(args.out, f"cluster/{args.part}")
    info = deploy.submit(args.part, extra, results=Path(results), follow=not args.no_wait)
    print(f"job {info['job_id']}: {info.get('status', 'submitted')}"
          + (f"; results in {info['results']}" if info.get("results") else ""))
    return 0 if info.get("status", "SUCCEEDED") == "SUCCEEDED" or args.no_wait else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ray", help="Ray jobs on a deployed Ray stack")
    sub = parser.add_subparsers(dest="ray_command", required=True)
    submit = sub.add_parser("submit", help="docker exec into the head + ray job submit")
    submit.add_argument("part", choices=sorted(ray_entries()))
    submit.add_argument("--out", default=None, help="where the job's results are copied "
                        "(default results/cluster/<part>)")
    submit.add_argument("--no-wait", action="store_true", help="submit and return")
    submit.add_argument("job_args", nargs=argparse.REMAINDER,
                        help="-- then the entry script's arguments")
    submit.set_defaults(func=_submit)
