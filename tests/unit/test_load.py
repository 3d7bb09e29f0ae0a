"""Repeated timings on a shared machine: load recorded, disturbed runs measured again."""

from __future__ import annotations

import time
from pathlib import Path

from stacklab.core.load import foreign_load, load_average, measure_quietly, runnable


def test_runnable_tasks_and_load_average_come_from_proc_loadavg(tmp_path: Path):
    path = tmp_path / "loadavg"
    path.write_text("3.52 2.10 1.05 4/812 12345\n")
    assert runnable(path) == 3 and load_average(path) == 3.52
    assert runnable() >= 0   # the real file parses too


def test_foreign_load_is_the_idle_reading_or_what_the_run_does_not_explain():
    assert foreign_load(before=0.2, during=2.5, own_cpus=2) == 0.5
    assert foreign_load(before=1.5, during=1.0, own_cpus=2) == 1.5


class Machine:
    """A fake /proc/loadavg: each run of ours is told how busy the others are during it."""

    def __init__(self, others: list[float], own: float) -> None:
        self.others, self.own, self.runs = others, own, 0
        self.now = others[0]

    def read(self) -> float:
        return self.now

    def sleep(self, _seconds: float) -> None:
        time.sleep(0.05)     # let the sampler read the idle machine

    def run(self) -> dict:
        self.now += self.own
        wall = 10.0 + 10 * self.others[self.runs]
        time.sleep(0.05)     # ... and the busy one
        self.runs += 1
        self.now = self.others[min(self.runs, len(self.others) - 1)]
        return {"wall_seconds": wall, "nodes": 2}


def quietly(machine: Machine, repeats: int, **kw):
    return measure_quietly(machine.run, repeats, own_cpus=2, limit=0.5, read=machine.read, sleep=machine.sleep,
                           interval=0.01, average=lambda: 1.25, **kw)


def test_a_disturbed_run_is_measured_again_and_left_out_of_the_median():
    machine = Machine(others=[0.0, 3.0, 0.0, 0.0], own=2)
    point = quietly(machine, repeats=3)
    assert machine.runs == 4 and point["quiet"] and point["runs_kept"] == 3
    assert point["wall_seconds"] == 10.0 and point["nodes"] == 2
    flags = [a["foreign_load"] for a in point["attempts"]]
    assert flags == [False, True, False, False]
    assert point["attempts"][1]["load_before"] == 3.0 and point["attempts"][1]["wall_seconds"] == 40.0
    assert 0 < point["attempts"][0]["load_during"] <= 2.0 and point["attempts"][0]["load_average_1min"] == 1.25


def test_when_every_attempt_is_disturbed_the_point_says_so():
    machine = Machine(others=[1.0, 2.0, 3.0], own=2)
    point = quietly(machine, repeats=2, max_attempts=3)
    assert machine.runs == 3 and not point["quiet"] and point["runs_kept"] == 3
    assert point["wall_seconds"] == 30.0          # median of 20, 30, 40
