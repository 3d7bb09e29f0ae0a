"""The compute package's entry points (federated/client/*.py call these), one per FEDn step.

Each runs alone, like upstream's examples/mnist-pytorch/client:
    python model.py seed.npz              # build: a seed model
    python data.py                        # startup: the partition is there
    python train.py in.npz out.npz        # train: out.npz + out.npz-metadata
    python validate.py in.npz out.json    # validate: metrics JSON
    python predict.py in.npz out.json     # predict
A user error becomes one stderr line and exit status 2, as in the CLI.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

from stacklab.core.errors import UserError
from stacklab.federated import task


def _entry(usage: str, n_args: int) -> Callable[[Callable[..., None]], Callable[[list[str]], int]]:
    def wrap(fn: Callable[..., None]) -> Callable[[list[str]], int]:
        @functools.wraps(fn)
        def run(argv: list[str]) -> int:
            try:
                if len(argv) < n_args:
                    raise UserError(f"missing argument(s): usage: {usage}")
                fn(*argv)
                return 0
            except UserError as exc:
                print(f"stacklab: error: {exc}", file=sys.stderr)
                return 2

        return run

    return wrap


def _read_model(path: str) -> list:
    if not Path(path).exists():
        raise UserError(f"input model {path} does not exist: pass the path FEDn gives the entry point")
    return task.load_params(path)


@_entry("python model.py [OUT.npz]", 0)
def build(out: str = "../seed.npz", *_: str) -> None:
    task.save_params(task.seed_params(), out)
    print(f"seed model written to {out}")


@_entry("python data.py", 0)
def startup(*_: str) -> None:
    data = task.load_partition(task.client_dir_from_env())
    print(f"partition: {len(data['y_train'])} train / {len(data['y_test'])} test images")


@_entry("python train.py IN_MODEL OUT_MODEL", 2)
def train(in_path: str, out_path: str, *_: str) -> None:
    params, meta = task.train(_read_model(in_path), task.client_dir_from_env())
    task.save_params(params, out_path)
    # FEDn's save_metadata convention: OUT_MODEL-metadata, JSON; num_examples is mandatory
    Path(out_path + "-metadata").write_text(json.dumps(meta))


@_entry("python validate.py IN_MODEL OUT_JSON", 2)
def validate(in_path: str, out_path: str, *_: str) -> None:
    Path(out_path).write_text(json.dumps(task.validate(_read_model(in_path), task.client_dir_from_env())))


@_entry("python predict.py IN_MODEL OUT_JSON", 2)
def predict(in_path: str, out_path: str, *_: str) -> None:
    data = task.load_partition(task.client_dir_from_env())
    result = task.evaluate_params(_read_model(in_path), data["x_test"], data["y_test"])
    Path(out_path).write_text(json.dumps({"accuracy": result["accuracy"], "n": int(len(data["y_test"]))}))

