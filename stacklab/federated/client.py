"""FEDn clients: in-process (torch imported once) and the upstream subprocess-per-task CLI client.

In-process: fedn.FednClient with train/validate callbacks that call
stacklab.federated.task directly, so a round costs the computation and the
gRPC traffic, not a fresh Python + torch import per task. Subprocess: FEDn's
own `fedn client start`, which downloads the compute package and runs
`python train.py ...` for every task, exactly as upstream's examples do.
"""

from __future__ import annotations

import io
import time
import traceback
import uuid
from typing import Any

from stacklab.core.errors import UserError
from stacklab.federated import task
from stacklab.federated.config import FLConfig


def client_id(cfg: FLConfig, index: int) -> str:
    """Stable across restarts: a client that rejoins keeps its identity and history."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stacklab-fl:{cfg.network_id}:{cfg.path()}:{index}"))


def client_token(cfg: FLConfig) -> str | None:
    if not cfg.auth:
        return None
    from stacklab.federated.auth import client_token as make

    return make(cfg)


def make_callbacks(client_dir: Any) -> dict[str, Any]:
    """FednClient callbacks over the task functions (FEDn passes models as .npz bytes).

    Like upstream's client_v2, a failing task is logged and reported as
    failed (no model / no metrics) instead of killing the client.
    """

    def params_of(in_model: io.BytesIO) -> list:
        in_model.seek(0)  # FEDn hands over the buffer positioned at its end
        return task.load_params(in_model)

    def on_train(in_model: io.BytesIO, client_settings: dict) -> tuple[io.BytesIO | None, dict]:
        try:
            params, meta = task.train(params_of(in_model), client_dir)
        except Exception as exc:  # noqa: BLE001 - reported to the combiner, client keeps serving
            traceback.print_exc()
            return None, {"status": "failed", "error": str(exc)}
        return task.params_bytes(params), {"training_metadata": meta}

    def on_validate(in_model: io.BytesIO) -> dict | None:
        try:
            return task.validate(params_of(in_model), client_dir)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            return None

    def on_predict(in_model: io.BytesIO) -> dict | None:
        try:
            data = task.load_partition(client_dir)
            result = task.evaluate_params(params_of(in_model), data["x_test"], data["y_test"])
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            return None
        return {"accuracy": result["accuracy"], "n": int(len(data["y_test"]))}

    return {"train_callback": on_train, "validate_callback": on_validate, "predict_callback": on_predict}


def run_inprocess(cfg: FLConfig, index: int, retry_s: float = 2.0) -> None:
    """Connect to the API (retrying while it is down), then serve tasks until killed."""
    from fedn.network.clients.fedn_client import ConnectToApiResult, FednClient

    workdir = cfg.client_dir(index)
    task.load_partition(workdir)  # a missing partition fails here, before connecting
    import torch  # noqa: F401  -- imported once, here, not per task

    name, cid, token = cfg.client_name(index), client_id(cfg, index), client_token(cfg)
    fedn_client = FednClient(**make_callbacks(workdir))
    payload = {"client_id": cid, "name": name, "package": "local", "preferred_combiner": ""}
    while True:
        result, combiner = fedn_client.connect_to_api(cfg.api_url + "/", token, payload)
        if result == ConnectToApiResult.Assigned:
            break
        if result == ConnectToApiResult.UnAuthorized:
            raise UserError(f"{name}: the FEDn API refused the client token: check the auth settings of the state dir")
        print(f"{name}: API not ready ({result.name}: {combiner}); retrying in {retry_s:.0f} s", flush=True)
        time.sleep(retry_s)
    if not fedn_client.init_grpchandler(config=combiner, client_name=cid, token=token):
        raise UserError(f"{name}: cannot open the gRPC channel to combiner {combiner.host}:{combiner.port}")
    fedn_client.set_name(name)
    fedn_client.set_client_id(cid)
    print(f"{name}: connected to combiner {combiner.host}:{combiner.port} as {cid}", flush=True)
    fedn_client.run()


def subprocess_argv(cfg: FLConfig, index: int) -> list[str]:
    """Arguments of upstream's `fedn client start` for this client (package downloaded from the API)."""
    argv = ["client", "start", "--api-url", f"http://{cfg.host}", "--api-port", str(cfg.controller_port),
            "--name", cfg.client_name(index), "--client-id", client_id(cfg, index)]
    token = client_token(cfg)
    if token:
        argv += ["--token", token]
    return argv


def run_subprocess_client(cfg: FLConfig, index: int) -> None:
    """FEDn's CLI client, unmodified: `python train.py` / `python validate.py` per task."""
    from fedn.cli import main

    task.load_partition(cfg.client_dir(index))  # same early check as the in-process client
    main.main(args=subprocess_argv(cfg, index), prog_name="fedn", standalone_mode=True)
