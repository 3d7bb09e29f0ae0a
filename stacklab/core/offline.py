"""Announces, once per process, that a stand-in replaced the real data."""

import sys

_announced: set[str] = set()


def announce_stand_in(dataset: str, reason: str) -> None:
    """Print one stderr line the first time ``dataset`` falls back to a stand-in."""
    if dataset in _announced:
        return
    _announced.add(dataset)
    print(
        f"stacklab: NOTE: {dataset}: using an offline stand-in, NOT the real data ({reason})",
        file=sys.stderr,
        flush=True,
    )
