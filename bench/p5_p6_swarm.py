"""P5 and P6 on the local 3-node Swarm (`stacklab cluster up --nodes 3` first).

P5: seconds from `docker stack deploy` of ray_tuning until every Ray node
    (head + 2 workers) is registered with the head.       target <= 30 s
P6: Ray Tune wall time with 1 vs 2 worker nodes of 1 CPU each, same search,
    side by side in this run: speedup = wall(1) / wall(2).  target >= 1.8
Also: the same search on 1, 2 and 3 worker nodes (fixed 1 CPU per node; the
3rd node is the manager, labelled ray.worker for the run) -> results/cluster/scaling.json.
Each node count is the median of --tune-repeats runs; the machine's load is
recorded next to every run, and a run under foreign load (other work on the
shared cores) is measured again (stacklab/core/load.py).
Prints both with the image sizes; writes results/bench/p5_p6.json.

    .venv/bin/python bench/p5_p6_swarm.py [--repeats 2] [--tune-repeats 3] [--foreign-limit 0.5] [--no-scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stacklab.cluster import deploy, images, local
from stacklab.cluster.shell import run
from stacklab.core.load import measure_quietly
from stacklab.core.results import part_dir, write_json

PART = "ray_tuning"
# P1's search (16 RF configs, 3-fold CV on train.csv-sized data): big enough that
# trials, not job start-up, dominate; FIFO so every run does exactly the same
# work whatever the node count.
TRIALS = 16
WORKLOAD = ["--searcher", "random", "--scheduler", "fifo", "--trials", str(TRIALS),
            "--rows", "15120", "--folds", "3", "--seed", "0"]


def p5_once() -> float:
    deploy.remove(PART)
    start = time.monotonic()
    deploy.deploy(PART)
    deploy.wait_ray_nodes(PART, 3, timeout=600)
    return time.monotonic() - start


def scale_workers(count: int) -> None:
    host = deploy.manager()
    run(images.docker(host, "service", "scale", "-d", f"{PART}_worker={count}"))
    # a scaled-down worker's Ray node must be gone before the next run
    deploy.wait_ray_nodes(PART, count + 1, timeout=600)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        alive = deploy.head_exec(PART, "python", "-m", "stacklab.cluster.raywait", "0", "1").stdout
        if len(json.loads(alive.strip().splitlines()[-1])) == count + 1:
            return
        time.sleep(2)


def tune_wall(workers: int, workload: list[str] = WORKLOAD) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        info = deploy.submit(PART, [*workload], results=Path(tmp))
        written = Path(tmp) / "tune.json"
        if info["status"] != "SUCCEEDED" or not written.is_file():
            # the job's own log says why (a lost node, a head replaced mid-job, ...)
            logs = deploy.head_exec(PART, "ray", "job", "logs", "--address", deploy.JOB_API,
                                    info["job_id"], check=False)
            tail = "\n".join((logs.stdout + logs.stderr).strip().splitlines()[-40:])
            print(f"--- last lines of ray job {info['job_id']} ---\n{tail}", file=sys.stderr)
            sys.exit(f"bench: job {info['job_id']} on {workers} worker node(s) ended "
                     f"{info['status']} without tune.json (its log is above)")
        result = json.loads(written.read_text())
    return {"nodes": workers, "wall_seconds": round(result["wall_seconds"], 1),
            "nodes_used": len(result["nodes"]), "best_accuracy": result["best"]["accuracy"],
            "trials": result["num_trials"], "errors": result["num_errors"]}


def tune_point(workers: int, args: argparse.Namespace, workload: list[str] = WORKLOAD) -> dict:
    """Median wall time of undisturbed runs on ``workers`` nodes, each run with its load."""
    scale_workers(workers)
    # ours: one busy CPU per worker node, plus the driver and Ray's own processes on the head
    point = measure_quietly(lambda: tune_wall(workers, workload), args.tune_repeats, own_cpus=workers + 1,
                            limit=args.foreign_limit, max_attempts=args.max_attempts or 2 * args.tune_repeats)
    print(f"{workers} node(s): median {point['wall_seconds']} s of "
          + ", ".join(f"{a['wall_seconds']} s (foreign load {a['foreign_cpus']})" for a in point["attempts"]),
          flush=True)
    return point


def label_ray_worker(host: str | None, node: str, on: bool) -> None:
    flag = ["--label-add", "ray.worker=true"] if on else ["--label-rm", "ray.worker"]
    run(images.docker(host, "node", "update", *flag, node))


def label_manager_as_worker(on: bool) -> None:
    label_ray_worker(deploy.manager(), local.load_state()["nodes"][0]["name"], on)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tune-repeats", type=int, default=3, help="undisturbed runs per node count")
    parser.add_argument("--foreign-limit", type=float, default=0.5,
                        help="CPUs of other work above which a run is measured again")
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="runs per node count at most (default twice --tune-repeats); if all were "
                             "disturbed, the point keeps them and says so")
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args()
    state = local.load_state()
    if not state or not state.get("ready"):
        sys.exit("bench: no local cluster: run `stacklab cluster up --nodes 3` first")
    host = deploy.manager()
    image_env = deploy.image_env()
    refs = [images.role_image(role, image_env["STACKLAB_TAG"], image_env["STACKLAB_REGISTRY"])
            for role in ("ray", "s3")]   # what ray_tuning runs
    sizes = {ref: round(images.image_size(host, ref) / 1e9, 2) for ref in refs}

    p5 = [p5_once() for _ in range(args.repeats)]
    print(f"P5 deploy -> 3 Ray nodes registered: {', '.join(f'{s:.1f}' for s in p5)} s "
          f"(median {statistics.median(p5):.1f} s; target <= 30 s)", flush=True)

    runs = [tune_point(1, args), tune_point(2, args)]
    speedup = runs[0]["wall_seconds"] / runs[1]["wall_seconds"]
    print(f"P6 tune wall 1 node {runs[0]['wall_seconds']} s, 2 nodes {runs[1]['wall_seconds']} s: "
          f"speedup {speedup:.2f} (target >= 1.8)", flush=True)
    print("image sizes (GB): " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    bench = {"p5_seconds": [round(s, 1) for s in p5], "p5_median": round(statistics.median(p5), 1),
             "p5_target": 30, "p6_runs": runs, "p6_speedup": round(speedup, 2),
             "p6_target": 1.8, "image_sizes_gb": sizes, "workload": WORKLOAD,
             "machine": "one machine, 2 cores shared by every node (and other work)",
             # other work on the same cores bounds any speed-up: record how busy they were
             "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    write_json(part_dir(None, "bench") / "p5_p6.json", bench)

    if not args.no_scaling:
        scaling = [runs[0], runs[1]]
        label_manager_as_worker(True)
        try:
            scaling.append(tune_point(3, args))
        finally:
            scale_workers(2)
            label_manager_as_worker(False)
        base = scaling[0]["wall_seconds"]
        for row in scaling:
            row["speedup"] = round(base / row["wall_seconds"], 2)
        print("scaling: " + ", ".join(f"{r['nodes']} nodes {r['wall_seconds']} s "
                                      f"(x{r['speedup']})" for r in scaling))
        write_json(part_dir(None, "cluster") / "scaling.json",
                   {"cpus_per_node": 1, "trials": TRIALS, "workload": WORKLOAD, "runs": scaling,
                    "tune_repeats": args.tune_repeats, "foreign_limit_cpus": args.foreign_limit,
                    "machine": bench["machine"],
                    "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]})
    deploy.remove(PART)
    return 0


if __name__ == "__main__":
    sys.exit(main())
