"""System heterogeneity on purpose: the slow-client delay and the mid-round kill."""

from __future__ import annotations

import json
import sys
import time

import psutil
import pytest

from stacklab.core.errors import UserError
from stacklab.federated import hetero, task
from stacklab.federated.config import FLConfig, load_config, load_saved, save_config
from stacklab.federated.local import procs


@pytest.mark.parametrize("value, expected", [
    ("3:6", {3: 6.0}), ("2:1.5, 3:6", {2: 1.5, 3: 6.0}), ({3: "2"}, {3: 2.0}), ("", {}), ({}, {}),
])
def test_delays_parse(value, expected):
    assert load_config(overrides={"n_clients": 3, "client_delay_s": value}).client_delay_s == expected


@pytest.mark.parametrize("value, fragment", [
    ("3", "INDEX:SECONDS"), ("4:1", "clients are 1..3"), ("2:-1", "delays >= 0"), ("a:b", "not INDEX:SECONDS"),
    (7, "not a mapping"),
])
def test_bad_delays_are_one_clear_error(value, fragment):
    with pytest.raises(UserError, match=fragment):
        load_config(overrides={"n_clients": 3, "client_delay_s": value})


def test_delays_survive_the_saved_config(tmp_path):
    cfg = load_config(overrides={"state_dir": tmp_path, "n_clients": 3, "client_delay_s": "3:6"})
    save_config(cfg)
    assert load_saved(tmp_path).client_delay_s == {3: 6.0}


def _tiny(tmp_path, **kw) -> FLConfig:
    return load_config(overrides={"state_dir": tmp_path, "data": "standin", "n_clients": 2, "train_per_client": 60,
                                  "test_per_client": 30, "global_test": 50, **kw})


def test_a_slow_client_takes_its_delay_longer_per_update(tmp_path):
    cfg = _tiny(tmp_path, client_delay_s="2:0.8")
    task.prepare_partitions(cfg)
    seed = task.seed_params(0)
    task.train(seed, cfg.client_dir(1))  # warm-up: the first update also pays torch's one-off start
    fast = task.train(seed, cfg.client_dir(1))[1]["train_seconds"]
    slow = task.train(seed, cfg.client_dir(2))[1]["train_seconds"]
    assert slow >= fast + 0.75, (fast, slow)
    hetero.set_client_delay(cfg, 2, 0.0)  # changed between sessions, no restart
    assert task.train(seed, cfg.client_dir(2))[1]["train_seconds"] < slow - 0.5
    hetero.set_client_delay(cfg, 1, 1.5)
    assert json.loads((cfg.client_dir(1) / task.SETTINGS).read_text())["delay_s"] == 1.5


def test_kill_client_sigkills_its_process_group(tmp_path):
    cfg = _tiny(tmp_path)
    child = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    proc = procs.start(cfg.path(), cfg.client_name(2), [sys.executable, "-c", child])
    time.sleep(0.5)
    group = [p for p in psutil.process_iter() if p.pid != proc.pid and _pgid(p) == proc.pid]
    assert group, "the test's client should have a child in its group"
    assert hetero.kill_client(cfg, 2) == proc.pid
    psutil.wait_procs([psutil.Process(proc.pid), *group], timeout=5)
    assert not proc.alive() and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in group)
    with pytest.raises(UserError, match="client2 is not running"):
        hetero.kill_client(cfg, 2)


def _pgid(p: psutil.Process) -> int | None:
    try:
        import os

        return os.getpgid(p.pid)
    except (ProcessLookupError, psutil.Error, OSError):
        return None
