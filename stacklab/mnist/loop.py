"""Data-parallel epochs of MnistCNN, independent of who launched the processes.

Ray Train (stacklab.mnist.train) and the plain torch.distributed baseline
(bench/p3_ray_train_vs_ddp.py) run this same code, so the benchmark compares
launchers, not two training loops. Works with or without an initialised
process group (world size 1).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data.distributed import DistributedSampler

BatchHook = Callable[[int, int, int], None]  # (epoch, batch index, batches in epoch)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _reduce(values: list[float], op: str = "sum") -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64)
    if _world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return tensor.tolist()


def shard(n: int, epoch: int, seed: int) -> list[int]:
    """This rank's shuffled indices for an epoch (DistributedSampler: equal counts per rank)."""
    rank, world = _world()
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    epoch: int,
    seed: int = 0,
    on_batch: BatchHook | None = None,
) -> dict[str, float]:
    """One epoch over this rank's shard; loss and sample count summed over all ranks."""
    order = torch.tensor(shard(len(y), epoch, seed), dtype=torch.int64)
    batches = (len(order) + batch_size - 1) // batch_size
    model.train()
    start = time.perf_counter()
    loss_sum = 0.0
    for b in range(batches):
        if on_batch is not None:
            on_batch(epoch, b, batches)
        idx = order[b * batch_size : (b + 1) * batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()  # DDP all-reduces the gradients here
        optimizer.step()
        loss_sum += loss.item() * len(idx)
    seconds = time.perf_counter() - start
    total_loss, total_samples = _reduce([loss_sum, float(len(order))])
    return {
        "train_loss": total_loss / max(total_samples, 1),
        "samples": int(total_samples),
        "local_samples": len(order),
        "train_seconds": _reduce([seconds], "max")[0],  # the epoch lasts as long as the slowest rank
    }


@torch.no_grad()
def evaluate_sharded(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
    """Test loss/accuracy: each rank scores every world-th image, sums are all-reduced."""
    rank, world = _world()
    xs, ys = x[rank::world], y[rank::world]
    model.eval()
    loss_sum, correct = 0.0, 0.0
    for s in range(0, len(ys), batch_size):
        logits = model(xs[s : s + batch_size])
        loss_sum += F.cross_entropy(logits, ys[s : s + batch_size], reduction="sum").item()
        correct += float((logits.argmax(1) == ys[s : s + batch_size]).sum())
    loss_sum, correct, n = _reduce([loss_sum, correct, float(len(ys))])
    return {"test_loss": loss_sum / max(n, 1), "test_accuracy": correct / max(n, 1)}


def rank_info(extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Who ran where: every rank's identity, gathered to all ranks."""
    rank, world = _world()
    mine = {
        "rank": rank,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
        "gloo_ifname": os.environ.get("GLOO_SOCKET_IFNAME"),
        **(extra or {}),
    }
    if world == 1:
        return [mine]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, mine)
    return gathered


def run_epochs(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    first_epoch: int,
    epochs: int,
    seed: int = 0,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_batch: BatchHook | None = None,
) -> list[dict[str, Any]]:
    """Epochs first_epoch..epochs (1-based) with a test evaluation after each.

    on_epoch(metrics) runs on every rank after each epoch (Ray reports and
    checkpoints there). Returns the per-epoch metrics.
    """
    history = []
    for epoch in range(first_epoch, epochs + 1):
        stats = train_one_epoch(model, optimizer, *train, batch_size, epoch, seed, on_batch)
        start = time.perf_counter()
        metrics = {"epoch": epoch, **stats, **evaluate_sharded(model, *test)}
        metrics["eval_seconds"] = time.perf_counter() - start
        metrics["samples_per_s"] = stats["samples"] / max(stats["train_seconds"], 1e-9)
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
    return history
