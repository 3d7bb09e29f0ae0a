"""P3's floor: what Ray Train and plain DDP spend around a training loop of zero epochs.

Both launchers run the start of a real run and nothing else: processes up,
torch imported, Gloo process group, MnistCNN wrapped in DDP. What is left is each launcher's fixed cost, the part of P3 that
no run length removes, only dilutes. Ray Train's is split into
  * fit() -> first line of the training function (controller, worker actors,
    train context: all in processes Ray Train V2 starts for each fit),
  * inside the function (torch import, prepare_model),
  * function return -> fit() returns (poll, worker group shutdown, result).
From Ray's extra fixed cost and the DDP wall of the last P3 run
(results/bench/p3.json, if there) it prints the lowest Ray Train / DDP wall
ratio that run length could reach if every epoch cost exactly the same.
Runs --repeats of each, alternating; the fastest counts. Writes
results/bench/p3_startup.json.

    .venv/bin/python bench/p3_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from stacklab.core.errors import UserError
from stacklab.core.results import DEFAULT_RESULTS_DIR, part_dir, read_json, write_json

# Only what the DDP processes need at module level: mp.spawn re-imports this
# file in each of them, and a heavier import here would count as DDP start-up.
from stacklab.mnist.ddp_baseline import run_ddp
from stacklab.mnist.run_length import at_loop_parity, epochs_to_reach, projected_ratio

SETTLE_SECONDS = 3.0


def _startup_only(config: dict) -> dict[str, float]:
    """Ray Train's side: what stacklab.mnist.train.train_worker does before its first epoch."""
    entered = time.time()
    import ray.train.torch
    import torch

    from stacklab.mnist.model import MnistCNN

    torch.set_num_threads(config["threads"])
    ray.train.torch.prepare_model(MnistCNN())
    return {"entered": entered, "left": time.time()}  # rank 0's reaches Result.return_value


def ray_startup(storage: str, name: str, workers: int) -> dict[str, float]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        _startup_only, train_loop_config={"threads": 1},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name=name, storage_path=storage))
    start = time.time()
    times = trainer.fit().return_value
    end = time.time()
    return {"wall_seconds": end - start, "to_first_line_seconds": times["entered"] - start,
            "in_function_seconds": times["left"] - times["entered"], "after_return_seconds": end - times["left"]}


def ddp_startup(workers: int) -> dict[str, float]:
    """mp.spawn -> join of stacklab.mnist.ddp_baseline with zero epochs: spawn, imports, Gloo group, DDP wrap."""
    tiny = (np.zeros((workers, 1, 28, 28), np.float32), np.zeros(workers, np.int64))
    return {"wall_seconds": run_ddp(tiny, tiny, workers=workers, epochs=0, threads=1)["wall_seconds"]}


def main() -> None:
    import stacklab.mnist.train  # noqa: F401 - the kit's RAY_TRAIN_* defaults, as in a real run
    from stacklab.commands.common import positive_int

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--p3", default=None, help="P3 results to compare with (default results/bench/p3.json)")
    parser.add_argument("--out", default=None, help="default results/bench")
    args = parser.parse_args()
    # Read before measuring: a bad file should not cost the two minutes of runs.
    p3_path = DEFAULT_RESULTS_DIR / "bench" / "p3.json" if args.p3 is None else args.p3
    try:
        p3 = read_json(p3_path) if args.p3 or os.path.isfile(p3_path) else None
    except UserError as exc:
        sys.exit(f"bench: {exc}")

    os.environ["RAY_worker_niceness"] = "0"  # as in bench/p3_ray_train_vs_ddp.py
    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_runs, ddp_runs = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="p3-startup-") as storage:
            # One fit first: the first in a Ray session also pays one-off imports and actors.
            print("P3 start-up: warm-up fit ...", flush=True)
            ray_startup(storage, "warm-up", args.workers)
            for repeat in range(args.repeats):
                print(f"P3 start-up [{repeat + 1}/{args.repeats}]: DDP, then Ray Train ...", flush=True)
                # Ray still reaps the last fit's actor processes after fit() returns; on 2
                # cores that alone made a following DDP start-up 1.5 s slower.
                time.sleep(SETTLE_SECONDS)
                ddp_runs.append(ddp_startup(args.workers))
                time.sleep(SETTLE_SECONDS)
                ray_runs.append(ray_startup(storage, f"startup-{repeat}", args.workers))
    finally:
        ray.shutdown()

    ray_best = min(ray_runs, key=lambda r: r["wall_seconds"])
    ddp_best = min(ddp_runs, key=lambda r: r["wall_seconds"])
    extra = ray_best["wall_seconds"] - ddp_best["wall_seconds"]
    figures = {
        "workers": args.workers, "repeats": args.repeats,
        "ray_train": ray_best, "ddp": ddp_best,
        "all_walls": {"ray_train": [r["wall_seconds"] for r in ray_runs], "ddp": [r["wall_seconds"] for r in ddp_runs]},
        "ray_extra_fixed_seconds": extra,
        "ratio_startup": ray_best["wall_seconds"] / ddp_best["wall_seconds"],
    }
    if p3 is not None:
        ddp, epochs = p3["rows"][0], p3["epochs"]
        parity = at_loop_parity(ddp, extra)
        figures["p3_floor"] = {
            "epochs": epochs, "ddp_wall_seconds": ddp["wall_seconds"],
            "ratio": projected_ratio(parity, ddp, epochs, epochs), "measured_ratio": p3["ratio_ray_over_ddp_wall"],
            "epochs_to_reach_1_05_at_parity": epochs_to_reach(1.05, parity, ddp, epochs)}
    path = write_json(part_dir(args.out, "bench") / "p3_startup.json", figures)

    print(f"\nP3 start-up alone, {args.workers} workers (fastest of {args.repeats} alternating runs):")
    print(f"  DDP (mp.spawn -> join)   {ddp_best['wall_seconds']:6.1f} s")
    print(f"  Ray Train (fit)          {ray_best['wall_seconds']:6.1f} s = "
          f"{ray_best['to_first_line_seconds']:.1f} s to the training function's first line + "
          f"{ray_best['in_function_seconds']:.1f} s in it + {ray_best['after_return_seconds']:.1f} s after it returns")
    print(f"  Ray's extra fixed cost: {extra:.1f} s (start-up ratio {figures['ratio_startup']:.2f})")
    if "p3_floor" in figures:
        f = figures["p3_floor"]
        print(f"  the last P3 run ({f['epochs']} epochs, DDP {f['ddp_wall_seconds']:.1f} s) could not go below "
              f"{f['ratio']:.3f} even with its loops at parity (measured {f['measured_ratio']:.3f}; target 1.05);\n"
              f"  at parity 1.05 takes ~{f['epochs_to_reach_1_05_at_parity']:.0f} epochs of that size")
    print(f"  written: {path}")


if __name__ == "__main__":
    main()
