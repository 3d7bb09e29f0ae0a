"""One JSON document for the dashboard, built from FEDn's REST API only."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
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


def collect(api: FednApi, session_id: str | None = None) -> dict:
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
    chosen = session_id or (sessions[0]["session_id"] if sessions else None)
    out["session"] = _session_detail(api, chosen) if chosen else None
    return out


def _session_detail(api: FednApi, session_id: str) -> dict:
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
    for r in rounds:
        mid = model_of.get(r["round_id"])
        vals = by_model.get(mid, {}) if mid else {}
        accs = {name: m.get("test_accuracy") for name, m in sorted(vals.items())}
        start = _ts(r.get("committed_at"))
        end = last_seen.get(mid) if mid else None
        rows.append({
            "round": r["round_id"], "status": r.get("status"), "model_id": mid, "started": start,
            "seconds": (end - start) if (end and start) else None,
            "accuracy": accs,
            "mean_accuracy": (sum(a for a in accs.values() if a is not None) / len(accs)) if accs else None,
            "reduce_seconds": ((r.get("round_data") or {}).get("reduce") or {}).get("time_aggregate_model"),
        })
    lineage = [{"model_id": m["model_id"], "parent": m.get("parent_model"), "committed_at": _ts(m.get("committed_at"))}
               for m in sorted(models, key=lambda m: chain.index(m["model_id"]) if m["model_id"] in chain else -1)]
    return {"id": session_id, "name": session.get("name"), "status": session.get("status"),
            "config": session.get("session_config"), "rounds": rows, "lineage": lineage}
