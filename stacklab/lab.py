"""`stacklab lab`: every part on the embedded default, then one summary table."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from stacklab.core.errors import UserError
from stacklab.core.results import DEFAULT_RESULTS_DIR, markdown_table, write_atomic, write_json
from stacklab.parts import lab_steps

# (part, module with lab_step(results_root) -> summary row), in the lab's order.
LAB_STEPS = lab_steps()


def run_lab(results_root: Path = DEFAULT_RESULTS_DIR, parts: list[str] | None = None) -> list[dict[str, Any]]:
    known = [name for name, _ in LAB_STEPS]
    unknown = sorted(set(parts or []) - set(known))
    if unknown:
        raise UserError(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    rows = []
    for name, module in LAB_STEPS:
        if parts and name not in parts:
            continue
        print(f"\n=== stacklab lab: {name} ===", flush=True)
        start = time.perf_counter()
        row = importlib.import_module(module).lab_step(results_root)
        row.setdefault("seconds", round(time.perf_counter() - start, 1))
        rows.append(row)
        # Written after every part: an interrupted lab keeps what finished.
        write_json(results_root / "lab.json", rows)
    table = markdown_table(rows, ["part", "metric", "value", "seconds", "results"])
    write_atomic(results_root / "lab.md", "# stacklab lab summary\n\n" + table)
    print("\n" + table + f"\nSummary: {results_root / 'lab.md'}; plots and tables next to each JSON file.")
    return rows
