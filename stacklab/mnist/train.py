"""Part ray_train/: Ray Train (V2) data-parallel training of MnistCNN on CPUs.

The driver loads MNIST once and puts it in Ray's object store (as uint8
pixels), so every node fetches it once, whatever its number of workers. Each worker trains on its
DistributedSampler shard (stacklab.mnist.loop), rank 0 saves a checkpoint
every epoch, and a restarted worker group (FailureConfig) or a ``--resume``
run continues from the latest checkpoint with its epoch counter and history.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stacklab.core import ray_session
from stacklab.core.errors import UserError
from stacklab.core.results import part_dir
from stacklab.data.mnist import load_mnist, normalise, to_uint8
from stacklab.mnist import gloo_net
from stacklab.mnist.model import MnistCNN

# Train V2's controller acts on reports and notices the end of training only when
# it polls the workers, every 2 s by default: up to 4 s idle after the last epoch
# (measured: fit 24.9 s -> 18.6 s on 3 short epochs). The driver's RAY_TRAIN_*
# variables reach the controller, so this works on a cluster too; set it to override.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
# The preemption watcher is one more actor process per run that only logs Ray
# autoscaler node drains (cloud spot preemption). A Swarm or a laptop has no
# autoscaler to drain nodes, and on 2-core VMs that process starts while the
# first epoch runs: measured 1.5 s of every fit. Set it to 1 on an autoscaling cluster.
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")

PART = "ray_train"
RUN_PREFIX = "mnist"
MODEL_FILE = "model.pt"
META_FILE = "meta.json"
SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"  # what Ray Train V2 restores a run from


@dataclass
class TrainSettings:
    workers: int = 2
    cpus_per_worker: int = 1
    placement: str = "PACK"  # or SPREAD: one worker per node where possible
    epochs: int = 5
    batch_size: int = 64  # per worker; the global batch is workers * batch_size
    lr: float = 1e-3
    data: str = "auto"
    limit_train: int | None = None
    limit_test: int | None = None
    address: str | None = None
    storage: str | None = None
    name: str | None = None
    resume: bool = False
    max_failures: int = 2
    keep_checkpoints: int = 2
    gloo_ifname: str | None = None
    seed: int = 0
    out: str | None = None
    # Test hook: {"rank": r, "epoch": e, "marker": path, "delay_s": 5} SIGKILLs
    # rank r halfway through epoch e, once (the marker file remembers it).
    fault: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def smoke(cls, **overrides: Any) -> TrainSettings:
        """CI size: 1,500 training and 500 test images, 2 epochs."""
        base = {"epochs": 2, "limit_train": 1500, "limit_test": 500}
        return cls(**{**base, **overrides})


def _validate(s: TrainSettings) -> None:
    checks = [
        (s.workers >= 1, f"--workers {s.workers}: give at least 1 worker"),
        (s.cpus_per_worker >= 1, f"--cpus-per-worker {s.cpus_per_worker}: give at least 1 CPU"),
        (s.epochs >= 1, f"--epochs {s.epochs}: give at least 1 epoch"),
        (s.batch_size >= 1, f"--batch-size {s.batch_size}: give at least 1 image per batch"),
        (s.lr > 0 and np.isfinite(s.lr), f"--lr {s.lr}: give a positive learning rate such as 0.001"),
        (s.placement in ("PACK", "SPREAD"), f"--placement {s.placement!r}: choose PACK or SPREAD"),
        (s.max_failures >= 0, f"--max-failures {s.max_failures}: give 0 or more"),
        (s.keep_checkpoints >= 1, f"--keep-checkpoints {s.keep_checkpoints}: keep at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


# ---------------------------------------------------------------- checkpoints


@contextmanager
def checkpoint_dir(path: str) -> Iterator[Path]:
    """A checkpoint as a local directory (downloaded first when it is a URI)."""
    if "://" not in str(path):
        local = Path(path)
        if not (local / MODEL_FILE).is_file():
            raise UserError(f"{local} is not a stacklab Ray Train checkpoint (no {MODEL_FILE}): give a checkpoint_* directory")
        yield local
        return
    from ray.train import Checkpoint

    with Checkpoint(path).as_directory() as local:
        yield Path(local)


def save_checkpoint(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, meta: dict) -> None:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, directory / MODEL_FILE)
    (directory / META_FILE).write_text(json.dumps(meta, default=str))


def read_meta(path: str) -> dict[str, Any]:
    with checkpoint_dir(path) as local:
        return json.loads((local / META_FILE).read_text())


def load_trained(checkpoint_path: str | Path) -> MnistCNN:
    """The trained MnistCNN from a checkpoint directory or URI, in eval mode."""
    model = MnistCNN()
    with checkpoint_dir(str(checkpoint_path)) as local:
        state = torch.load(local / MODEL_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------- worker side


def _kill_hook(fault: dict[str, Any] | None, rank: int):
    if not fault or fault.get("rank") != rank:
        return None
    marker = Path(fault["marker"])

    def hook(epoch: int, batch: int, batches: int) -> None:
        if epoch == fault["epoch"] and batch == batches // 2 and not marker.exists():
            # Ray Train's controller collects reports once per poll
            # (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S); a crash sooner after a report
            # loses that report's checkpoint. Wait so the test knows which one survives.
            time.sleep(fault.get("delay_s", 5.0))
            marker.write_text(f"killed rank {rank} pid {os.getpid()} in epoch {epoch}\n")
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash, as when a node dies

    return hook


def _progress(message: str) -> None:
    # Train V2 patches print() in workers to tee into its logger, which shows
    # every line twice on the driver; the raw stream shows it once.
    print(f"[ray_train] {message}", file=sys.__stdout__, flush=True)


def _node_tensors(refs: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels from the object store (uint8 there: a quarter of the bytes per node)."""
    import ray

    pixels, labels = ray.get(refs)
    return torch.from_numpy(normalise(pixels)), torch.from_numpy(np.array(labels))


def train_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Ray Train's train_loop_per_worker: restore, train, report + checkpoint every epoch."""
    import ray.train
    import ray.train.torch
    from ray.util import get_node_ip_address

    from stacklab.mnist.loop import rank_info, run_epochs

    torch.set_num_threads(config["threads"])  # exactly the CPUs Ray reserved: no oversubscription
    torch.manual_seed(config["seed"])
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    train, test = _node_tensors(config["train"]), _node_tensors(config["test"])

    model = MnistCNN()
    meta: dict[str, Any] = {"epoch": 0, "history": [], "starts": []}
    optimizer_state = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as local:
            state = torch.load(Path(local) / MODEL_FILE, map_location="cpu", weights_only=True)
            meta = json.loads((Path(local) / META_FILE).read_text())
        model.load_state_dict(state["model"])
        optimizer_state = state["optimizer"]
    model = ray.train.torch.prepare_model(model)  # DDP over Gloo
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)

    where = {"node_ip": get_node_ip_address(), "local_rank": ctx.get_local_rank(), "node_rank": ctx.get_node_rank()}
    ranks = rank_info(where)
    meta["starts"].append({"from_epoch": meta["epoch"], "world_size": ctx.get_world_size(), "time": time.time()})
    meta["ranks"] = ranks
    if rank == 0:
        _progress(f"{len(ranks)} worker(s) on {len({r['node_ip'] for r in ranks})} node(s), "
                  f"starting after epoch {meta['epoch']} of {config['epochs']}")

    def on_epoch(metrics: dict[str, Any]) -> None:
        meta["epoch"] = metrics["epoch"]
        meta["history"].append(metrics)
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        if rank != 0:
            ray.train.report(scalars, checkpoint=None)
            return
        _progress(f"epoch {metrics['epoch']}/{config['epochs']}: train loss {metrics['train_loss']:.4f}, "
                  f"test accuracy {metrics['test_accuracy']:.4f}, {metrics['samples_per_s']:.0f} samples/s")
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(Path(tmp), model.module if hasattr(model, "module") else model, optimizer, meta)
            ray.train.report(scalars, checkpoint=ray.train.Checkpoint.from_directory(tmp))

    run_epochs(model, optimizer, train, test, config["batch_size"], meta["epoch"] + 1, config["epochs"],
               seed=config["seed"], on_epoch=on_epoch, on_batch=_kill_hook(config.get("fault"), rank))
    return meta


# ------------------------------------------------------------- driver side


def _load_data(s: TrainSettings) -> tuple[tuple, tuple, dict]:
    x, y, info = load_mnist(s.data, "train", s.limit_train)
    xt, yt, _ = load_mnist(s.data, "test", s.limit_test)
    if len(y) < s.workers:
        raise UserError(f"{len(y)} training images cannot be shared by {s.workers} workers: use more data or fewer workers")
    info = {**info, "n_train": int(len(y)), "n_test": int(len(yt))}
    return (x, y), (xt, yt), info


def _resumable(storage: str):
    return lambda run: ray_session.exists_in_storage(storage, f"{run}/{SNAPSHOT_FILE}")


def _uses_cluster(address: str | None) -> bool:
    target = address or os.environ.get("RAY_ADDRESS")
    return bool(target) and target != "local"


def _fit(s: TrainSettings, storage: str, name: str, train_refs: list, test_refs: list):
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_worker,
        train_loop_config={
            "epochs": s.epochs, "batch_size": s.batch_size, "lr": s.lr, "seed": s.seed,
            "threads": s.cpus_per_worker, "train": train_refs, "test": test_refs, "fault": s.fault,
        },
        scaling_config=ScalingConfig(num_workers=s.workers, use_gpu=False, placement_strategy=s.placement,
                                     resources_per_worker={"CPU": s.cpus_per_worker}),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=CheckpointConfig(num_to_keep=s.keep_checkpoints),
            failure_config=FailureConfig(max_failures=s.max_failures),
        ),
    )
    try:
        return trainer.fit()
    except Exception as exc:  # noqa: BLE001 - TrainingFailedError and its causes
        if type(exc).__name__ not in ("TrainingFailedError", "WorkerGroupError", "ControllerError"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"Ray Train run {name} failed after {s.max_failures} allowed restart(s): {first}: "
                        "see the worker logs above; rerun with --resume to continue from the last checkpoint") from None


def run_training(s: TrainSettings) -> dict[str, Any]:
    """Train (or resume) on Ray; write train.json, train.md and plots; return the summary."""
    import ray

    from stacklab.mnist.train_report import write_results

    _validate(s)
    started = time.perf_counter()
    out = part_dir(s.out, PART)
    train, test, data_info = _load_data(s)
    storage = ray_session.storage_root(s.storage, out / "checkpoints")
    name = ray_session.run_name(RUN_PREFIX, storage, s.name, s.resume, _resumable(storage))
    cluster = _uses_cluster(s.address)
    env = gloo_net.runtime_env(s.gloo_ifname) if cluster or s.gloo_ifname else None
    own_ray = ray_session.connect(s.address, num_cpus=s.workers * s.cpus_per_worker, runtime_env=env)
    try:
        ray_session.require_cpus(s.workers * s.cpus_per_worker, f"{s.workers} worker(s) x {s.cpus_per_worker} CPU")
        _progress(f"run {name} in {storage}: {s.workers} worker(s) x {s.cpus_per_worker} CPU, "
                  f"{data_info['n_train']} training images ({data_info['source']})")
        # Put once: each node fetches the data once, however many of its workers use it.
        train_refs = [ray.put(to_uint8(train[0])), ray.put(train[1])]
        test_refs = [ray.put(to_uint8(test[0])), ray.put(test[1])]
        fit_start = time.perf_counter()
        result = _fit(s, storage, name, train_refs, test_refs)
        fit_seconds = time.perf_counter() - fit_start
    finally:
        if own_ray:
            ray.shutdown()
    if result.checkpoint is None:
        raise UserError(f"run {name} produced no checkpoint: check the worker logs above")
    checkpoint = f"{storage.rstrip('/')}/{name}/{Path(result.checkpoint.path).name}"
    meta = read_meta(checkpoint)
    settings = {k: v for k, v in asdict(s).items() if k != "fault"}
    return write_results(out, settings, data_info, meta, name, storage, checkpoint,
                         fit_seconds=fit_seconds, wall_seconds=time.perf_counter() - started)


def lab_step(results_root: Path) -> dict[str, Any]:
    """The lab job's row: 2 workers, 3 epochs on the default data, local Ray."""
    summary = run_training(TrainSettings(workers=2, epochs=3, limit_train=12000, limit_test=2000,
                                         out=str(Path(results_root) / PART)))
    return {
        "part": PART,
        "metric": "test accuracy",
        "value": round(summary["final"]["test_accuracy"], 4),
        "seconds": round(summary["wall_seconds"], 1),
        "results": str(Path(results_root) / PART / "train.json"),
    }
