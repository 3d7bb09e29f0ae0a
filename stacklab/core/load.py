"""Timings taken on a shared machine: how busy it was, and re-runs when others were busy.

A wall time measured while other work held the cores says little about the
thing measured. Each run records the machine's load next to its time: the
runnable tasks (Linux's /proc/loadavg, fourth field) sampled while nothing of
ours runs just before it (all of that is foreign), and during it (ours plus
foreign). A run whose foreign load passes a limit is measured again, up to a
number of attempts; the point is the median of the runs that were not
disturbed. If every attempt was disturbed, the point keeps them and says so.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOADAVG = Path("/proc/loadavg")
LOAD_FIELDS = ("load_before", "load_during", "foreign_cpus", "foreign_load", "load_average_1min")


def runnable(path: Path = LOADAVG) -> int:
    """Tasks running or ready to run right now, less the one reading the file."""
    fields = path.read_text().split()
    return max(0, int(fields[3].split("/")[0]) - 1)


def load_average(path: Path = LOADAVG) -> float:
    """The 1-minute load average."""
    return float(path.read_text().split()[0])


class Sampler:
    """Samples ``read()`` every ``interval`` seconds in a thread, between start() and stop()."""

    def __init__(self, read: Callable[[], float] = runnable, interval: float = 0.5) -> None:
        self.read, self.interval, self.samples = read, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(float(self.read()))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mean(self) -> float:
        return statistics.fmean(self.samples) if self.samples else 0.0


def foreign_load(before: float, during: float, own_cpus: float) -> float:
    """CPUs' worth of other work: the idle reading before, or what the run's own CPUs do not explain during it."""
    return max(before, during - own_cpus)


def measure_quietly(run: Callable[[], dict[str, Any]], repeats: int, own_cpus: float, limit: float = 0.5,
                    max_attempts: int | None = None, idle_seconds: float = 10.0,
                    read: Callable[[], float] = runnable, sleep: Callable[[float], None] = time.sleep,
                    interval: float = 0.5, average: Callable[[], float] = load_average) -> dict[str, Any]:
    """``run()`` (a dict with ``wall_seconds``) until ``repeats`` undisturbed runs or ``max_attempts``.

    Returns the first kept run's other fields, ``wall_seconds`` as the median
    of the undisturbed runs (or of all, with ``quiet`` false, if none was),
    and every attempt with its load under ``attempts``. ``own_cpus`` is what
    the run itself keeps busy (its trials' CPUs plus its driver).
    """
    max_attempts = max_attempts or 3 * repeats
    attempts: list[dict[str, Any]] = []
    while len([a for a in attempts if not a["foreign_load"]]) < repeats and len(attempts) < max_attempts:
        with Sampler(read, interval) as idle:
            sleep(idle_seconds)
        with Sampler(read, interval) as busy:
            result = run()
        before, during = idle.mean(), busy.mean()
        foreign = foreign_load(before, during, own_cpus)
        attempts.append({**result, "load_before": round(before, 2), "load_during": round(during, 2),
                         "foreign_cpus": round(foreign, 2), "foreign_load": foreign > limit,
                         "load_average_1min": average()})
    quiet = [a for a in attempts if not a["foreign_load"]]
    kept = quiet or attempts
    first = {k: v for k, v in kept[0].items() if k not in LOAD_FIELDS}
    return {**first, "wall_seconds": round(statistics.median(a["wall_seconds"] for a in kept), 1),
            "runs_kept": len(kept), "quiet": bool(quiet), "foreign_limit_cpus": limit,
            "own_cpus": own_cpus, "attempts": attempts}
