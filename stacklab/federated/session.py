"""Run one FEDn session: package + seed up, session created and started via REST, rounds followed.

Round timing is observed here, by polling the API every POLL_S: FEDn's REST
API serialises timestamps to whole seconds, too coarse for per-round
overhead. A round starts when it appears in /rounds and ends when every
participating client's validation of the round's global model is in.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stacklab.core.errors import UserError
from stacklab.federated import compat, task
from stacklab.federated.api import FednApi
from stacklab.federated.config import FLConfig
from stacklab.federated.package import build_package, upload_package

POLL_S = 0.1
STRAGGLER_GRACE_S = 60.0  # after the session ends: late validations (subprocess clients) still count
UNVALIDATED = "Finished, unvalidated"  # a round FEDn aggregated whose validations never arrived


def session_config(cfg: FLConfig, seed_id: str) -> dict:
    aggregator, kwargs = cfg.fedn_aggregator()
    return {
        "aggregator": aggregator,
        # a Python literal: FEDn stores it as a string and the combiner literal_evals it
        **({"aggregator_kwargs": repr(kwargs)} if kwargs else {}),
        "round_timeout": cfg.round_timeout,
        "buffer_size": -1,
        "delete_models_storage": True,
        "clients_required": cfg.required_clients,
        "validate": True,
        "helper_type": "numpyhelper",
        "model_id": seed_id,
    }


def upload_seed(api: FednApi, cfg: FLConfig, name: str) -> tuple[str, list[np.ndarray]]:
    params = task.seed_params(cfg.seed)
    api.request("PUT", "helpers/active", json={"helper": "numpyhelper"})
    api.post("models/", files={"file": ("seed.npz", task.params_bytes(params))}, data={"name": name})
    newest = api.list("models", limit=5, sort_key="committed_at")
    match = [m for m in newest if m.get("name") == name]
    if not match:
        raise UserError("the seed model upload was not recorded by FEDn: see the controller log in the state dir")
    return match[0]["model_id"], params


def download_params(api: FednApi, model_id: str) -> list[np.ndarray]:
    return task.load_params(io.BytesIO(api.get(f"models/{model_id}/download")))


def start_session(api: FednApi, cfg: FLConfig, seed_id: str, rounds: int, name: str) -> str:
    created = api.post("sessions/", json=compat.session_create_payload(session_config(cfg, seed_id), rounds, name))
    session_id = created.get("session_id") if isinstance(created, dict) else None
    if not session_id:
        raise UserError(f"FEDn did not return a session id ({created}): see the controller log")
    api.post("sessions/start", json={"session_id": session_id, "rounds": rounds, "round_timeout": cfg.round_timeout})
    return session_id


def _max_round_id(api: FednApi) -> int:
    ids = [int(r["round_id"]) for r in api.list("rounds", limit=10000) if str(r.get("round_id", "")).isdigit()]
    return max(ids, default=0)


def validation_metrics(validation: dict) -> dict:
    data = validation.get("data")
    try:
        return json.loads(data) if isinstance(data, str) else dict(data or {})
    except (TypeError, ValueError):
        return {}


def model_chain(models: list[dict], seed_id: str) -> list[str]:
    """Model ids of the session in lineage order.

    FEDn 0.33.0 commits the session's first model with parent_model None
    (not the seed), so the chain starts at whichever model has no parent in
    the session.
    """
    ids = {m["model_id"] for m in models}
    children = {m.get("parent_model"): m["model_id"] for m in models if m.get("parent_model") in ids}
    roots = [m["model_id"] for m in models if m.get("parent_model") not in ids or m.get("parent_model") == seed_id]
    chain = []
    current = roots[0] if roots else None
    while current is not None and current not in chain:
        chain.append(current)
        current = children.get(current)
    return chain


def follow(api: FednApi, session_id: str, seed_id: str, first_round: int, rounds: int, expected: list[str],
           log: Callable[[str], None] = print, timeout: float = 3600.0) -> list[dict]:
    """Poll until the session ends; log and return one record per round as each completes."""
    started: dict[str, float] = {}
    done: dict[str, dict] = {}
    finished_at: float | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        ours = sorted((r for r in api.list("rounds", limit=rounds + 50, sort_key="committed_at")
                       if str(r.get("round_id", "")).isdigit() and int(r["round_id"]) >= first_round),
                      key=lambda r: int(r["round_id"]))
        for r in ours:
            started.setdefault(r["round_id"], now)
        chain = model_chain(api.list("models", limit=rounds + 50, session_id=session_id), seed_id)
        by_model: dict[str, dict[str, dict]] = {}
        for v in api.list("validations", limit=(rounds + 5) * max(len(expected), 1) * 2, session_id=session_id):
            sender = (v.get("sender") or {}).get("name", "?")
            by_model.setdefault(v.get("model_id"), {})[sender] = validation_metrics(v)
        successful = [r for r in ours if r.get("status") in ("Finished", "Success")]
        session = api.get(f"sessions/{session_id}")
        status = session.get("status") if isinstance(session, dict) else None
        if status in ("Finished", "Terminated") and finished_at is None:
            finished_at = now
        grace_over = finished_at is not None and now - finished_at > STRAGGLER_GRACE_S
        for r, model_id in zip(successful, chain, strict=False):
            rid = r["round_id"]
            vals = by_model.get(model_id, {})
            if rid in done or not (set(expected) <= set(vals) or len(vals) >= _trained(r) or (grace_over and vals)):
                continue
            done[rid] = _round_record(rid, model_id, started[rid], now, vals)
            log(format_round(done[rid], len(done), rounds))
        for r in ours:
            if r.get("status") in ("Failed", "Terminated") and r["round_id"] not in done:
                done[r["round_id"]] = {"round": int(r["round_id"]), "status": r["status"], "seconds": now - started[r["round_id"]],
                                       "clients": {}, "model_id": None}
                log(f"round {r['round_id']}: {r['status']} after {now - started[r['round_id']]:.1f} s")
        if finished_at is not None and (len(done) >= len(ours) or grace_over):
            for r, model_id in zip(successful, chain, strict=False):
                if r["round_id"] not in done:  # aggregated, but no validation came in time: say so, never drop it
                    done[r["round_id"]] = {"round": int(r["round_id"]), "status": UNVALIDATED, "seconds": None,
                                           "clients": {}, "model_id": model_id}
                    log(f"round {r['round_id']}: aggregated, but no client validation arrived within "
                        f"{STRAGGLER_GRACE_S:.0f} s of the session's end")
            return [done[k] for k in sorted(done, key=int)]
        time.sleep(POLL_S)
    raise UserError(f"session {session_id} still running after {timeout:.0f} s: see `stacklab fl status`")


def _trained(round_: dict) -> int:
    """How many clients' updates the round aggregated (fewer than expected when one dropped out)."""
    total = 0
    for combiner in round_.get("combiners") or []:
        timing = ((combiner.get("data") or {}).get("aggregation_time") or {})
        total += int(timing.get("nr_aggregated_models") or 0)
    return total or 10**6  # unknown: wait for every expected client


def _round_record(rid: str, model_id: str, start: float, end: float, vals: dict[str, dict]) -> dict:
    clients = {name: {"accuracy": m.get("test_accuracy"), "loss": m.get("test_loss"),
                      "train_seconds": m.get("train_seconds"), "validate_seconds": m.get("validate_seconds")}
               for name, m in sorted(vals.items())}
    accs = [c["accuracy"] for c in clients.values() if c["accuracy"] is not None]
    own = [(c["train_seconds"] or 0.0) + (c["validate_seconds"] or 0.0) for c in clients.values()]
    seconds = end - start
    return {"round": int(rid), "status": "Finished", "model_id": model_id, "seconds": seconds,
            "clients": clients, "mean_accuracy": float(np.mean(accs)) if accs else None,
            "slowest_client_seconds": max(own, default=0.0), "overhead_seconds": seconds - max(own, default=0.0)}


def format_round(rec: dict, k: int, total: int) -> str:
    def acc(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    per_client = "  ".join(f"{n} {acc(c['accuracy'])}" for n, c in rec["clients"].items())
    return (f"round {rec['round']} ({k}/{total}): {rec['seconds']:.2f} s  val acc: {per_client}  "
            f"mean {acc(rec['mean_accuracy'])}  (overhead {rec['overhead_seconds']:.2f} s)")


def _restart_clients_on_new_package(cfg: FLConfig, pkg: Path, log: Callable[[str], None]) -> None:
    """Upstream's CLI client fetches the package once, at start: give it the new one."""
    import hashlib

    digest = hashlib.sha256(pkg.read_bytes()).hexdigest()
    stamp = cfg.path("package.sha256")
    previous = stamp.read_text().strip() if stamp.exists() else None
    stamp.write_text(digest + "\n")
    if cfg.client_mode != "subprocess" or previous in (None, digest):
        return
    from stacklab.federated.local.federation import restart

    log("fl run: compute package changed: restarting the subprocess clients so they fetch it")
    for index in range(1, cfg.n_clients + 1):
        restart(cfg, cfg.client_name(index), log=log)


def run(cfg: FLConfig, rounds: int, log: Callable[[str], None] = print, name: str | None = None) -> dict:
    """Upload package + seed, run `rounds` rounds, return the full result (not yet written)."""
    if rounds < 1:
        raise UserError(f"rounds must be >= 1, not {rounds}: pass --rounds N")
    api = FednApi.from_config(cfg)
    api.wait_healthy(log=log)
    t0 = time.monotonic()
    name = name or time.strftime("stacklab-%Y%m%d-%H%M%S")
    pkg = build_package(cfg.package_dir, cfg.path("package.tgz"))
    upload_package(api, pkg, name)
    _restart_clients_on_new_package(cfg, pkg, log)
    seed_id, seed = upload_seed(api, cfg, f"{name}-seed")
    online = api.wait_for_clients(cfg.required_clients, timeout=180)
    expected = sorted(c["name"] for c in online)
    log(f"fl run: package + seed {seed_id[:8]} uploaded; {len(expected)} clients online ({', '.join(expected)})")
    first_round = _max_round_id(api) + 1
    session_id = start_session(api, cfg, seed_id, rounds, name)
    log(f"fl run: session {session_id} started, {rounds} round(s)")
    records = follow(api, session_id, seed_id, first_round, rounds, expected, log=log,
                     timeout=rounds * (cfg.round_timeout + 30) + 60)
    with np.load(cfg.path("global_test.npz")) as data:
        x, y = data["x"], data["y"]
    finals = [r["model_id"] for r in records if r.get("model_id")]
    final_params = download_params(api, finals[-1]) if finals else seed
    seed_eval, final_eval = task.evaluate_params(seed, x, y), task.evaluate_params(final_params, x, y)
    ok = [r for r in records if r.get("status") == "Finished"]
    log(f"fl run: global model accuracy {seed_eval['accuracy']:.3f} (seed) -> {final_eval['accuracy']:.3f} "
        f"after {len(ok)} round(s) on {len(y)} test images")
    settings = task.client_settings(cfg.client_dir(1))
    return {
        "part": "federated",
        "session_id": session_id,
        "session_name": name,
        "seed_model_id": seed_id,
        "final_model_id": finals[-1] if finals else seed_id,
        "rounds_requested": rounds,
        "rounds": records,
        "clients": expected,
        "client_mode": cfg.client_mode,
        "non_iid": cfg.non_iid,
        "data": {"source": settings.get("source"), "real_data": settings.get("real_data"),
                 "train_per_client": cfg.train_per_client, "test_per_client": cfg.test_per_client},
        "global": {"seed_accuracy": seed_eval["accuracy"], "final_accuracy": final_eval["accuracy"],
                   "seed_loss": seed_eval["loss"], "final_loss": final_eval["loss"], "n_test": int(len(y))},
        "mean_round_seconds": float(np.mean([r["seconds"] for r in ok])) if ok else None,
        "mean_overhead_seconds": float(np.mean([r["overhead_seconds"] for r in ok])) if ok else None,
        "seconds": time.monotonic() - t0,
        "config": {k: v for k, v in cfg.to_dict().items() if k in (
            "n_clients", "epochs", "batch_size", "lr", "train_per_client", "test_per_client", "round_timeout",
            "clients_required", "client_mode", "non_iid", "seed", "aggregator", "aggregator_args")},
        "aggregation": dict(zip(("fedn_aggregator", "aggregator_kwargs"), cfg.fedn_aggregator(), strict=True)),
    }


def write_results(result: dict, out: str | Path | None = None) -> Path:
    from stacklab.federated.report import write_all

    return write_all(result, out)
