"""`stacklab <command>`: thin dispatch to one function per command.

Each module in stacklab.commands exposes ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int``. Every UserError becomes one line on
stderr and exit status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "stacklab.commands.fl",
    "stacklab.commands.baseline",
    "stacklab.commands.tune",
    "stacklab.commands.lab",
    "stacklab.commands.report",
    "stacklab.commands.train",
    "stacklab.commands.cluster",
    "stacklab.commands.images",
    "stacklab.commands.stack",
    "stacklab.commands.ray",
    "stacklab.commands.vm",
    "stacklab.commands.data",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a single line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"stacklab: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="stacklab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    from stacklab.core.errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"stacklab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stacklab: interrupted; results written so far are kept", file=sys.stderr)
        return 130


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
