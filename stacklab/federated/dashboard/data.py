"""One JSON document for the dashboard, built from FEDn's REST API.

Global accuracy per round (the round's aggregated model on the federation's
held-out test set) needs the model and that test set: `global_scorer`
makes a cached scorer when the state dir holds global_test.npz; without it
the page shows only the clients' own validations.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from stacklab.core.errors import UserError
from stacklab.federated.api import FednApi
from stacklab.federated.session import model_chain, validation_metrics


def _ts(value: Any) -> float | None:
    """FEDn's REST timestamps are HTTP dates (whole seconds) -> epoch seconds."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError):
        return None


class GlobalScorer:
    """model_id -> accuracy on the federation's held-out test set, each model scored once."""

    def __init__(self, api: FednApi, x: Any, y: Any) -> None:
        self.api, self.x, self.y = api, x, y
        self.n_test = int(len(y))
        self._scores: dict[str, float] = {}

    def __call__(self, model_id: str) -> float | None:
        from stacklab.federated import task
        from stacklab.federated.session import download_params

        if model_id not in self._scores:
            try:
                params = download_params(self.api, model_id)
            except (UserError, OSError, ValueError, KeyError):
                return None  # not in the model store (yet): tried again at the next refresh
            self._scores[model_id] = task.evaluate_params(params, self.x, self.y)["accuracy"]
        return self._scores[model_id]


def global_scorer(api: FednApi, test_set: Path) -> GlobalScorer | None:
    """A scorer over the state dir's global_test.npz; None where the set is not on this machine."""
    if not test_set.is_file():
        return None
    import numpy as np

    with np.load(test_set) as data:
        return GlobalScorer(api, data["x"], data["y"])


def collect(api: FednApi, session_id: str | None = None, evaluate: GlobalScorer | None = None) -> dict:
    try:
        sessions = api.list("sessions", limit=50, sort_key="committed_at")
        clients = api.list("clients", limit=200)
        combiners = api.list("combiners", limit=50)
    except UserError as exc:
        return {"ok": False, "error": str(exc)}
    out: dict[str, Any] = {
        "ok": True,
        "sessions": [{"id": s["session_id"], "name": s.get("name"), "status": s.get("status"),
                      "rounds": (s.get("session_config") or {}).get("rounds"), "committed_at": _ts(s.get("committed_at"))}
                     for s in sessions],
        "clients": [{"name": c.get("name"), "status": c.get("status"), "last_seen": _ts(c.get("last_seen")),
                     "combiner": c.get("combiner"), "id": c.get("client_id")} for c in clients],
        "combiners": [{"name": c.get("name"), "address": c.get("address"), "port": c.get("port")} for c in combiners],
    }
    out["clients_online"] = sum(1 for c in out["clients"] if c["status"] == "online")
    chosen = session_id or (sessions[0]["session_id"] if sessions else None)
    out["session"] = _session_detail(api, chosen, evaluate) if chosen else None
    return out


def _session_detail(api: FednApi, session_id: str, evaluate: GlobalScorer | None = None) -> dict:
    session = api.get(f"sessions/{session_id}")
    rounds = [r for r in api.list("rounds", limit=1000, sort_key="committed_at")
              if (r.get("round_config") or {}).get("session_id") == session_id]
    rounds.sort(key=lambda r: int(r["round_id"]) if str(r["round_id"]).isdigit() else 0)
    models = api.list("models", limit=1000, session_id=session_id)
    chain = model_chain(models, "")
    validations = api.list("validations", limit=5000, session_id=session_id)
    by_model: dict[str, dict[str, dict]] = {}
    last_seen: dict[str, float] = {}
    for v in validations:
        mid = v.get("model_id")
        by_model.setdefault(mid, {})[(v.get("sender") or {}).get("name", "?")] = validation_metrics(v)
        t = _ts(v.get("committed_at"))
        if t is not None:
            last_seen[mid] = max(last_seen.get(mid, 0.0), t)
    ok_rounds = [r for r in rounds if r.get("status") in ("Finished", "Success")]
    model_of = {r["round_id"]: m for r, m in zip(ok_rounds, chain, strict=False)}
    rows = []
    for n, r in enumerate(rounds, start=1):
        mid = model_of.get(r["round_id"])
        vals = by_model.get(mid, {}) if mid else {}
        accs = {name: m.get("test_accuracy") for name, m in sorted(vals.items())}
        start = _ts(r.get("committed_at"))
        end = last_seen.get(mid) if mid else None
        rows.append({
            "round": n, "fedn_round": r["round_id"], "status": r.get("status"), "model_id": mid, "started": start,
            "seconds": (end - start) if (end and start) else None,
            "accuracy": accs,
            "mean_accuracy": (sum(a for a in accs.values() if a is not None) / len(accs)) if accs else None,
            "global_accuracy": evaluate(mid) if (evaluate and mid) else None,
            "reduce_seconds": ((r.get("round_data") or {}).get("reduce") or {}).get("time_aggregate_model"),
        })
    lineage = [{"model_id": m["model_id"], "parent": m.get("parent_model"), "committed_at": _ts(m.get("committed_at"))}
               for m in sorted(models, key=lambda m: chain.index(m["model_id"]) if m["model_id"] in chain else -1)]
    config = session.get("session_config") or {}
    return {"id": session_id, "name": session.get("name"), "status": session.get("status"),
            "config": config, "rounds_requested": config.get("rounds"),
            "rounds_finished": sum(1 for r in rows if r["status"] in ("Finished", "Success")),
            "test_set_size": evaluate.n_test if evaluate else None,
            "rounds": rows, "lineage": lineage}
