"""Static checks of the Swarm artifacts, runnable with no daemon: the swarm part's lab step.

Every part's stack files are rendered by `docker stack config` (Swarm's own
schema check; the docker CLI needs no daemon for it), merged as
`stacklab stack deploy` merges them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stacklab.cluster import deploy
from stacklab.cluster.shell import need_tool, run
from stacklab.core.results import part_dir, write_json


def check_stacks() -> list[dict[str, Any]]:
    need_tool("docker", "run scripts/system-deps.sh (the docker CLI validates stack files)")
    rows = []
    for part in sorted(deploy.PARTS):
        cmd = ["docker", "stack", "config"]
        for path in deploy.stack_files(part):
            cmd += ["-c", str(path)]
        proc = run(cmd, check=False, env={"STACKLAB_REGISTRY": "registry.check:5000",
                                             "STACKLAB_TAG": "check"})
        rows.append({"part": part, "files": " + ".join(str(p.relative_to(deploy.REPO))
                                                     for p in deploy.stack_files(part)),
                     "valid": proc.returncode == 0,
                     "error": (proc.stderr.strip().splitlines() or [""])[-1] if proc.returncode else ""})
    return rows


def lab_step(results_root: Path) -> dict[str, Any]:
    """Validate every stack; one summary row (the cluster itself needs root + Docker)."""
    start = time.perf_counter()
    rows = check_stacks()
    out = part_dir(results_root / "swarm", "swarm") / "stacks.json"
    write_json(out, rows)
    ok = sum(r["valid"] for r in rows)
    for row in rows:
        print(f"{row['part']}: {'valid' if row['valid'] else 'INVALID ' + row['error']}")
    return {"part": "swarm", "metric": "stacks accepted by docker stack config",
            "value": f"{ok}/{len(rows)}", "seconds": round(time.perf_counter() - start, 1),
            "results": str(out)}
