"""P4: FEDn round overhead, in-process clients vs upstream's subprocess-per-task clients.

overhead of a round = round wall time - the slowest client's own train+validate
time (measured inside the task, after its imports), averaged over rounds 2..R
(round 1 also pays one-off warm-up). 2 clients, same data, same seed, same
rounds, both federations run one after the other in this one run. Target for
the in-process client: <= 1.0 s. A round that did not finish (failed, or
aggregated with no validation in time) is listed with its status beside the
means, never silently dropped; the machine's load average is recorded next
to each mode's numbers.
    .venv/bin/python bench/p4_fl_round_overhead.py [--rounds 4 --data standin]
Writes results/bench/p4_fl.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from stacklab.core.errors import UserError
from stacklab.core.results import part_dir, write_json
from stacklab.federated.config import load_config
from stacklab.federated.local.federation import down, up
from stacklab.federated.session import run

TARGET_S = 1.0


def measure(mode: str, rounds: int, data: str) -> dict:
    cfg = load_config(overrides={"state_dir": Path(f"var/bench-p4-{mode}"), "client_mode": mode, "n_clients": 2,
                                 "data": data, "train_per_client": 1000, "test_per_client": 500})
    load_before = os.getloadavg()[0]
    try:
        up(cfg, log=lambda line: print(f"[{mode}] {line}", flush=True))
        result = run(cfg, rounds, log=lambda line: print(f"[{mode}] {line}", flush=True))
    finally:
        down(cfg.state_dir, log=lambda line: None)
    ok = [r for r in result["rounds"] if r["status"] == "Finished"]
    if not ok:
        raise UserError(f"{mode}: no round of {rounds} finished: see the logs in {cfg.path('logs')}")
    steady = ok[1:] or ok
    return {
        "mode": mode,
        "rounds": len(ok),
        "rounds_requested": rounds,
        "rounds_not_finished": [{"round": r["round"], "status": r["status"]} for r in result["rounds"]
                                if r["status"] != "Finished"] + [{"round": None, "status": "never started"}] * max(
                                    0, rounds - len(result["rounds"])),
        "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "overhead_s": statistics.mean(r["overhead_seconds"] for r in steady),
        "overhead_all_rounds_s": statistics.mean(r["overhead_seconds"] for r in ok),
        "round_s": statistics.mean(r["seconds"] for r in steady),
        "client_own_s": statistics.mean(r["slowest_client_seconds"] for r in steady),
        "final_accuracy": result["global"]["final_accuracy"],
        "per_round": [{k: r[k] for k in ("round", "seconds", "slowest_client_seconds", "overhead_seconds")} for r in ok],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--data", default="auto", help="MNIST source: IDX dir, 'standin' or 'auto'")
    args = parser.parse_args()
    try:
        rows = [measure("inprocess", args.rounds, args.data), measure("subprocess", args.rounds, args.data)]
    except UserError as exc:
        print(f"stacklab: error: {exc}", file=sys.stderr)
        return 2
    inproc, sub = rows
    print(f"\nP4 FEDn round overhead, 2 clients, rounds 2..{args.rounds} (round 1 warm-up excluded)")
    print(f"{'client mode':<12} {'round s':>8} {'own train+val s':>16} {'overhead s':>11} {'final acc':>10}")
    for r in rows:
        print(f"{r['mode']:<12} {r['round_s']:8.2f} {r['client_own_s']:16.2f} {r['overhead_s']:11.2f} {r['final_accuracy']:10.3f}"
              f"   {r['rounds']}/{r['rounds_requested']} rounds finished, load {r['load_avg_1min']['before']:.1f}"
              f" -> {r['load_avg_1min']['after']:.1f}")
        for miss in r["rounds_not_finished"]:
            print(f"  {r['mode']}: round {miss['round']} {miss['status']}: not in the means above")
    ratio = sub["overhead_s"] / inproc["overhead_s"] if inproc["overhead_s"] > 0 else float("inf")
    verdict = "meets" if inproc["overhead_s"] <= TARGET_S else "MISSES"
    print(f"in-process overhead {inproc['overhead_s']:.2f} s {verdict} the <= {TARGET_S:.1f} s target; "
          f"the subprocess-per-task client's overhead is {ratio:.1f}x larger")
    path = write_json(part_dir(None, "bench") / "p4_fl.json",
                      {"benchmark": "P4", "target_s": TARGET_S, "rounds": args.rounds, "results": rows,
                       "subprocess_over_inprocess": ratio})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
