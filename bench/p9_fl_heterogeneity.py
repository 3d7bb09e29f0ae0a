"""P9: system heterogeneity in FEDn, measured: a client slowed on purpose, then a client killed mid-round.

One local federation of 3 in-process clients (real MNIST subset unless
--data says otherwise), four sessions one after the other:
  baseline     every client at its own speed
  slow_client  client3 holds each update back --delay seconds (client_delay_s)
  killed       client3 (still slow, so it is surely mid-update) is SIGKILLed
               --kill-after seconds into round 2; clients_required drops to 2
  rejoined     client3 restarted (`fl restart client3`), the federation goes on
Each round's wall time, which clients' validations came in, the session's
status and the global model's accuracy on the held-out set are recorded.
    .venv/bin/python bench/p9_fl_heterogeneity.py [--rounds 4 --delay 6 --round-timeout 30]
Writes results/federated_hetero/hetero.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stacklab.core.errors import UserError
from stacklab.core.results import part_dir, write_json
from stacklab.federated.api import FednApi
from stacklab.federated.config import load_config
from stacklab.federated.hetero import kill_during_round, set_client_delay
from stacklab.federated.local.federation import down, restart, up
from stacklab.federated.session import run

SLOW = 3  # the client index slowed, then killed


def summarise(name: str, what: str, result: dict, api: FednApi) -> dict:
    rounds = [{"round": i, "status": r["status"], "seconds": r["seconds"],
               "clients": {n: {"accuracy": c.get("accuracy"), "train_seconds": c.get("train_seconds")}
                           for n, c in r.get("clients", {}).items()}}
              for i, r in enumerate(result["rounds"], start=1)]
    ok = [r for r in rounds if r["status"] == "Finished"]
    session = api.get(f"sessions/{result['session_id']}")
    return {"scenario": name, "what": what, "session_id": result["session_id"],
            "session_status": session.get("status") if isinstance(session, dict) else None,
            "rounds_requested": result["rounds_requested"], "rounds_finished": len(ok),
            "round_seconds": [r["seconds"] for r in rounds],
            "median_round_seconds": statistics.median(r["seconds"] for r in ok) if ok else None,
            "clients_per_round": [sorted(r["clients"]) for r in rounds],
            "global_seed_accuracy": result["global"]["seed_accuracy"],
            "global_final_accuracy": result["global"]["final_accuracy"], "data_source": result["data"]["source"],
            "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--delay", type=float, default=6.0, help="seconds client3 adds to each update")
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds into round 2 client3 is killed")
    parser.add_argument("--round-timeout", type=int, default=30)
    parser.add_argument("--data", default="auto", help="MNIST source: IDX dir, 'mnist10k', 'standin' or 'auto'")
    parser.add_argument("--out", default=None, help="results directory (default results/federated_hetero)")
    args = parser.parse_args()
    if args.rounds < 3:
        print("stacklab: error: --rounds must be >= 3 (the kill is in round 2; rounds after it show the outcome)",
              file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="stacklab-p9-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    cfg = load_config(overrides={"state_dir": root / "state", "n_clients": 3, "data": args.data,
                                 "train_per_client": 1000, "test_per_client": 500, "round_timeout": args.round_timeout})
    log = lambda line: print(f"[p9] {line}", flush=True)  # noqa: E731
    scenarios = []
    try:
        up(cfg, log=log)
        api = FednApi.from_config(cfg)

        def session(name: str, what: str, rounds: int) -> dict:
            log(f"--- {name}: {what}")
            tic, load = time.monotonic(), os.getloadavg()[0]
            out = summarise(name, what, run(cfg, rounds, log=log, name=f"p9-{name}"), api)
            out["session_seconds"] = time.monotonic() - tic
            out["load_avg_1min"] = {"before": load, "after": os.getloadavg()[0]}  # this machine's, foreign load included
            scenarios.append(out)
            return out

        session("baseline", "3 clients, each at its own speed", args.rounds)
        set_client_delay(cfg, SLOW, args.delay)
        session("slow_client", f"client{SLOW} holds each update back {args.delay:g} s", args.rounds)
        cfg.clients_required = 2  # a session config key: the rounds after the kill may go on with 2 clients
        event = kill_during_round(cfg, SLOW, 2, args.kill_after)
        killed = session("killed", f"client{SLOW} (slow) SIGKILLed {args.kill_after:g} s into round 2; "
                         "clients_required 2", args.rounds)
        event.pop("thread").join(timeout=5)
        killed["kill"] = event
        set_client_delay(cfg, SLOW, 0.0)
        restart(cfg, cfg.client_name(SLOW), log=log)
        api.wait_for_clients(3, timeout=120)
        session("rejoined", f"client{SLOW} restarted at full speed; 3 clients again", 2)
    except UserError as exc:
        print(f"stacklab: error: {exc} (logs in {root / 'state' / 'logs'})", file=sys.stderr)
        return 2
    finally:
        down(cfg.state_dir, log=lambda line: None)
    shutil.rmtree(root, ignore_errors=True)
    print(f"\nP9 FEDn system heterogeneity: 3 clients, round_timeout {args.round_timeout} s, "
          f"data: {scenarios[0]['data_source']}")
    print(f"{'scenario':<12} {'status':<10} {'rounds ok':>9} {'round s (each)':<34} {'clients per round':<28} {'global acc':>10}")
    for s in scenarios:
        each = " ".join("-" if x is None else f"{x:.1f}" for x in s["round_seconds"])
        per = " ".join(str(len(c)) for c in s["clients_per_round"])
        print(f"{s['scenario']:<12} {s['session_status'] or '?':<10} {s['rounds_finished']:>4}/{s['rounds_requested']:<4} "
              f"{each:<34} {per:<28} {s['global_final_accuracy']:10.3f}")
    path = write_json(part_dir(args.out, "federated_hetero") / "hetero.json",
                      {"benchmark": "P9", "clients": 3, "slow_client": cfg.client_name(SLOW), "delay_s": args.delay,
                       "kill_after_s": args.kill_after, "round_timeout_s": args.round_timeout,
                       "clients_required_after_kill": 2, "data": args.data, "scenarios": scenarios})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
