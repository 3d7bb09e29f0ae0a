"""Announces, once per process, where data came from when it is not the full real set."""

import sys

_announced: set[str] = set()


def announce_once(key: str, line: str) -> None:
    """Print ``line`` on stderr the first time ``key`` is announced in this process."""
    if key in _announced:
        return
    _announced.add(key)
    print(f"stacklab: NOTE: {line}", file=sys.stderr, flush=True)


def announce_stand_in(dataset: str, reason: str) -> None:
    """Print one stderr line the first time ``dataset`` falls back to a stand-in."""
    announce_once(dataset, f"{dataset}: using an offline stand-in, NOT the real data ({reason})")
