"""System heterogeneity made real on a local federation: a client slowed on purpose, a client killed mid-round.

The slow client is FLConfig.client_delay_s (each local update held back that
many seconds, as a slower device would); `set_client_delay` changes it between
sessions without restarting anything, since clients re-read their settings
for every task. `kill_during_round` SIGKILLs one client's process group while
a given round of a session is in its training phase: no goodbye to the
combiner, exactly what a crashed or unplugged device does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from stacklab.core.errors import UserError
from stacklab.federated.api import FednApi
from stacklab.federated.config import FLConfig
from stacklab.federated.local import procs
from stacklab.federated.task import SETTINGS


def set_client_delay(cfg: FLConfig, index: int, seconds: float) -> None:
    """Make client `index` hold each update back `seconds` from its next task on."""
    path = Path(cfg.client_dir(index)) / SETTINGS
    if not path.is_file():
        raise UserError(f"client settings missing at {path}: run `stacklab fl up` first")
    settings = json.loads(path.read_text())
    settings["delay_s"] = float(seconds)
    tmp = path.with_name(f".{SETTINGS}.tmp")
    tmp.write_text(json.dumps(settings, indent=1))
    os.replace(tmp, path)


def kill_client(cfg: FLConfig, index: int) -> int:
    """SIGKILL client `index`'s whole process group (no clean shutdown); its pid."""
    proc = procs.read_proc(cfg.path(), cfg.client_name(index))
    if proc is None or not proc.alive():
        raise UserError(f"{cfg.client_name(index)} is not running: nothing to kill (start it with `stacklab fl up`)")
    os.killpg(proc.pid, signal.SIGKILL)  # started with start_new_session: pgid == pid
    return proc.pid


def kill_during_round(cfg: FLConfig, index: int, round_number: int, after_s: float,
                      poll_s: float = 0.1, timeout_s: float = 900.0) -> dict:
    """In a thread: once the `round_number`-th new round appears in FEDn, wait after_s, kill the client.

    Rounds are counted from the highest round id FEDn has now, so call this
    just before starting the session. The returned dict is filled in as it
    happens (round id, pid, seconds into the round); join it via ["thread"].
    """
    api = FednApi.from_config(cfg)
    first = max((int(r["round_id"]) for r in api.list("rounds", limit=10000) if str(r.get("round_id", "")).isdigit()),
                default=0) + 1
    target = str(first + round_number - 1)
    event: dict = {"client": cfg.client_name(index), "round": round_number, "fedn_round": int(target),
                   "after_s": after_s, "killed": False}

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(str(r.get("round_id")) == target for r in api.list("rounds", limit=50, sort_key="committed_at")):
                seen = time.monotonic()
                time.sleep(after_s)
                event["pid"] = kill_client(cfg, index)
                event["seconds_into_round"] = time.monotonic() - seen
                event["killed_at_unix"] = time.time()
                event["killed"] = True
                return
            time.sleep(poll_s)
        event["error"] = f"round {target} never started within {timeout_s:.0f} s"

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    event["thread"] = thread
    return event
