"""What a client computes: its data partition, local training, validation.

Used by both client modes: the in-process client calls these functions from
its FEDn callbacks, the compute package's entry points (federated/client/*.py)
call them once per `python train.py` subprocess. Parameters travel in FEDn's
numpyhelper format (an .npz whose arrays are named "0", "1", ...).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from stacklab.core.errors import UserError

PARTITION = Path("data") / "partition.npz"
SETTINGS = "client.json"
LAST_TRAIN = "last_train.json"
_cache: dict[str, dict[str, np.ndarray]] = {}


def partition_path(client_dir: str | Path) -> Path:
    return Path(client_dir) / PARTITION


def client_dir_from_env() -> Path:
    value = os.environ.get("STACKLAB_FL_CLIENT_DIR")
    if not value:
        raise UserError("STACKLAB_FL_CLIENT_DIR is not set: point it at the client's working dir (stacklab fl up sets it)")
    return Path(value)


# -- data ---------------------------------------------------------------------------

def prepare_partitions(cfg: Any) -> list[dict]:
    """Write each client's train/test share and settings into its working dir; one global test set."""
    from stacklab.data.mnist import load_mnist, partition

    n = cfg.n_clients
    x_train, y_train, info = load_mnist(cfg.data, "train", limit=n * cfg.train_per_client * (3 if cfg.non_iid else 1))
    # slack, so each client's test share can follow its own label mix
    x_test, y_test, _ = load_mnist(cfg.data, "test", limit=max(3 * n * cfg.test_per_client, cfg.global_test))
    infos = []
    shares = [partition(y_train, n, i, iid=not cfg.non_iid, seed=cfg.seed)[: cfg.train_per_client] for i in range(n)]
    tests = matching_test_shares(y_test, [y_train[s] for s in shares], cfg.test_per_client, seed=cfg.seed)
    for index, (tr, te) in enumerate(zip(shares, tests, strict=True), start=1):
        workdir = cfg.client_dir(index)
        path = partition_path(workdir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".partition.tmp.npz")
        np.savez(tmp, x_train=x_train[tr], y_train=y_train[tr], x_test=x_test[te], y_test=y_test[te])
        os.replace(tmp, path)
        labels = np.bincount(y_train[tr], minlength=10).tolist()
        settings = {"name": cfg.client_name(index), "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                    "lr": cfg.lr, "seed": cfg.seed + index, "train_label_counts": labels,
                    "delay_s": float(cfg.client_delay_s.get(index, 0.0)), **info}
        (workdir / SETTINGS).write_text(json.dumps(settings, indent=1))
        infos.append(settings)
    global_path = cfg.path("global_test.npz")
    np.savez(global_path, x=x_test[: cfg.global_test], y=y_test[: cfg.global_test])
    return infos


def matching_test_shares(y_test: np.ndarray, train_labels: list[np.ndarray], size: int, seed: int = 0) -> list[np.ndarray]:
    """Disjoint test shares, each with its client's training label mix.

    A client validates on data like its own (what "local validation" means
    under label skew); drawn class by class without replacement, so one
    client's test images are never another's.
    """
    rng = np.random.default_rng([seed, 7])
    pools = {int(c): list(rng.permutation(np.flatnonzero(y_test == c))) for c in np.unique(y_test)}
    out = []
    for labels in train_labels:
        counts = np.bincount(labels, minlength=10)[:10].astype(float)
        want = np.floor(counts / max(counts.sum(), 1) * size).astype(int)
        want[np.argsort(-counts)[: size - want.sum()]] += 1  # rounding remainder to the largest classes
        picked: list[int] = []
        for cls, k in enumerate(want):
            pool = pools.get(cls, [])
            picked += pool[:k]
            del pool[:k]
        for cls in np.argsort(-counts):  # a class ran out: top up from the client's next-commonest classes
            pool = pools.get(int(cls), [])
            take = min(size - len(picked), len(pool))
            picked += pool[:take]
            del pool[:take]
        out.append(np.sort(np.array(picked, dtype=np.int64)))
    return out


def load_partition(client_dir: str | Path) -> dict[str, np.ndarray]:
    key = str(Path(client_dir).resolve())
    if key not in _cache:
        path = partition_path(client_dir)
        if not path.exists():
            raise UserError(f"data partition missing at {path}: run `stacklab fl up` (it writes one per client)")
        with np.load(path) as data:
            _cache[key] = {k: data[k] for k in data.files}
    return _cache[key]


def client_settings(client_dir: str | Path) -> dict:
    path = Path(client_dir) / SETTINGS
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"client settings missing at {path}: run `stacklab fl up`") from None


# -- parameters ----------------------------------------------------------------------

def save_params(params: list[np.ndarray], target: str | Path | IO[bytes]) -> None:
    arrays = {str(i): a for i, a in enumerate(params)}
    if isinstance(target, (str, Path)):
        with open(target, "wb") as handle:  # a path given to np.savez would gain ".npz"
            np.savez_compressed(handle, **arrays)
    else:
        np.savez_compressed(target, **arrays)


def load_params(source: str | Path | IO[bytes]) -> list[np.ndarray]:
    with np.load(source) as data:
        return [data[str(i)] for i in range(len(data.files))]


def params_bytes(params: list[np.ndarray]) -> io.BytesIO:
    buf = io.BytesIO()
    save_params(params, buf)
    buf.seek(0)
    return buf


def _model(params: list[np.ndarray] | None = None):
    import torch

    from stacklab.mnist.model import MnistCNN

    model = MnistCNN()
    if params is not None:
        keys = list(model.state_dict().keys())
        if len(keys) != len(params):
            raise UserError(f"model has {len(keys)} tensors but the parameters hold {len(params)}: wrong seed model")
        model.load_state_dict({k: torch.as_tensor(np.asarray(p)) for k, p in zip(keys, params, strict=True)})
    return model


def _params(model) -> list[np.ndarray]:
    return [t.detach().cpu().numpy().copy() for t in model.state_dict().values()]


def seed_params(seed: int = 0) -> list[np.ndarray]:
    import torch

    torch.manual_seed(seed)
    return _params(_model())


def _one_thread() -> None:
    # Two clients share two cores with the servers: one intra-op thread each avoids oversubscription.
    import torch

    torch.set_num_threads(1)


# -- the client's work ------------------------------------------------------------------

def train(params: list[np.ndarray], client_dir: str | Path) -> tuple[list[np.ndarray], dict]:
    """One local update; metadata carries num_examples (FedAvg weights) and our timing."""
    import torch

    from stacklab.mnist.model import train_epoch

    _one_thread()
    tic = time.perf_counter()
    data, settings = load_partition(client_dir), client_settings(client_dir)
    model = _model(params)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9)
    losses = [train_epoch(model, optimizer, data["x_train"], data["y_train"], settings["batch_size"],
                          seed=settings["seed"] + epoch) for epoch in range(settings["epochs"])]
    # A client slowed on purpose (client_delay_s) holds its update back as a
    # slower device would; the delay counts as its own time, not as overhead.
    time.sleep(float(settings.get("delay_s", 0.0)))
    seconds = time.perf_counter() - tic
    (Path(client_dir) / LAST_TRAIN).write_text(json.dumps({"train_seconds": seconds, "train_loss": losses[-1]}))
    meta = {"num_examples": int(len(data["y_train"])), "batch_size": settings["batch_size"],
            "epochs": settings["epochs"], "lr": settings["lr"], "train_loss": losses[-1], "train_seconds": seconds}
    return _params(model), meta


def validate(params: list[np.ndarray], client_dir: str | Path) -> dict:
    """Accuracy/loss on the client's own test share, plus the client's own task times."""
    from stacklab.mnist.model import evaluate

    _one_thread()
    tic = time.perf_counter()
    data = load_partition(client_dir)
    result = evaluate(_model(params), data["x_test"], data["y_test"])
    try:
        last = json.loads((Path(client_dir) / LAST_TRAIN).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        last = {}
    return {"test_accuracy": result["accuracy"], "test_loss": result["loss"], "num_test": int(len(data["y_test"])),
            "train_seconds": float(last.get("train_seconds", 0.0)), "train_loss": float(last.get("train_loss", 0.0)),
            "validate_seconds": time.perf_counter() - tic}


def evaluate_params(params: list[np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from stacklab.mnist.model import evaluate

    return evaluate(_model(params), images, labels)
