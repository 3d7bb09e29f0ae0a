"""Plain torch.distributed DDP (Gloo, torch.multiprocessing): the baseline Ray Train is measured against.

Runs exactly the epochs of stacklab.mnist.loop that Ray Train's workers run,
with the same data, seed, thread count and batch size; only the launcher and
the per-epoch checkpoint/report differ.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, train: tuple, test: tuple, cfg: dict, out: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from stacklab.mnist.loop import run_epochs
    from stacklab.mnist.model import MnistCNN

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(MnistCNN())
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        history = run_epochs(model, optimizer, train, test, cfg["batch_size"], 1, cfg["epochs"], seed=cfg["seed"])
        if rank == 0:
            Path(out).write_text(json.dumps(history))
        # Without it a rank that tears Gloo down first can abort its peer, still
        # finishing the last collective ("terminate called without an active
        # exception", SIGABRT): measured in 3 of 20 runs, 0 of 80 with it.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_ddp(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    workers: int = 2,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Train with `workers` spawned processes; per-epoch metrics and wall time (spawn to join)."""
    shared = [tuple(torch.from_numpy(np.ascontiguousarray(a)).share_memory_() for a in pair) for pair in (train, test)]
    cfg = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "threads": threads, "seed": seed}
    # Ray sets OMP_NUM_THREADS to a worker's CPUs; the children get the same.
    old_omp = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "history.json")
            start = time.perf_counter()
            mp.spawn(_worker, args=(workers, _free_port(), shared[0], shared[1], cfg, out), nprocs=workers, join=True)
            wall = time.perf_counter() - start
            history = json.loads(Path(out).read_text())
    finally:
        if old_omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old_omp
    return {"epochs": history, "wall_seconds": wall, "workers": workers}
