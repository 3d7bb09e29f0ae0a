"""P8: real VMs on this machine (`stacklab vm`): seconds from `vm up` to every node
Ready and labelled, with a cold image cache and a warm one, and which accelerator
ran (KVM or TCG emulation). Writes results/bench/p8.json.

    .venv/bin/python bench/p8_vms.py [--nodes 3] [--memory 3G] [--no-cold] [--keep]

--no-cold skips the cold run (which deletes the cached VM image, ~3-5 min to
rebuild; debootstrap's .deb cache is kept, so "cold" downloads nothing);
--keep leaves the last cluster up. The machine's load average is
recorded with every run: on 2 shared cores other work stretches the boots.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from p8_vm_tune import load_p8

from stacklab.cluster.shell import cache_dir
from stacklab.core.results import part_dir, write_json
from stacklab.vm import cluster, image


def one_up(nodes: int, memory: str, cold: bool) -> dict:
    if cold:
        shutil.rmtree(cache_dir("vm") / image.image_key(), ignore_errors=True)
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    state = cluster.up(nodes=nodes, memory=memory)
    wall = time.monotonic() - start
    row = {"cache": "cold" if cold else "warm", "nodes": nodes, "memory": memory,
           "accel": state["accel"], "accel_reason": state["accel_reason"],
           "up_seconds": round(wall, 1), **state["timings"],
           "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    print(f"{row['cache']}: {row['up_seconds']} s to a Ready, labelled {nodes}-node Swarm "
          f"({row['accel']}; image {row['image_seconds']} s, agents {row['agents_seconds']} s, "
          f"cloud-init {row['cloud_init_seconds']} s, swarm {row['swarm_ready_seconds']} s "
          "after boot)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--memory", default="3G")   # `stacklab vm up`'s default
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if cluster.load_state():
        raise SystemExit("VMs are up: `stacklab vm down` first (P8 times `vm up` from nothing)")
    runs = []
    for cold in ([] if args.no_cold else [True]) + [False]:
        runs.append(one_up(args.nodes, args.memory, cold))
        if cold or not args.keep:
            start = time.monotonic()
            cluster.down()
            runs[-1]["down_seconds"] = round(time.monotonic() - start, 1)
    out = Path(part_dir(args.out, "bench")) / "p8.json"
    # beside the tuning, federation and fault entries of the other P8 scripts
    write_json(out, {**load_p8(out), "bench": "P8 vm up", "cpu_count": os.cpu_count(), "runs": runs})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
