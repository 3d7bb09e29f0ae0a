"""`stacklab lab`'s federated step: up, 2 clients, 5 short rounds, the dashboard snapshot, down."""

from __future__ import annotations

import time
from pathlib import Path

from stacklab.federated.config import load_config
from stacklab.federated.dashboard.snapshot import snapshot_after_session
from stacklab.federated.local.federation import down, up
from stacklab.federated.session import run, write_results

LAB_STATE_DIR = Path("var/fl-lab")


def lab_step(results_root: Path, rounds: int = 5, **overrides) -> dict:
    """Run the federation at a small size on the embedded default; one summary row."""
    tic = time.monotonic()
    cfg = load_config(overrides={"state_dir": LAB_STATE_DIR, "n_clients": 2, "train_per_client": 600,
                                 "test_per_client": 300, **overrides})
    try:
        up(cfg)
        result = run(cfg, rounds)
        path = write_results(result, Path(results_root) / "federated")
        snapshot_after_session(cfg, path.parent, result["session_id"])  # the dashboard, while FEDn is still up
    finally:
        down(cfg.state_dir)
    return {"part": "federated", "metric": "global model test accuracy (FedAvg, 2 clients)",
            "value": result["global"]["final_accuracy"], "seconds": time.monotonic() - tic,
            "results": str(path)}
