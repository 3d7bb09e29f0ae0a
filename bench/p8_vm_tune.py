"""P8, tuning part: Ray Tune wall time on 1, 2 and 3 VMs of 1 vCPU (`stacklab vm up` first).

The lab's stacks on the VM Swarm the way a cloud user deploys them: the
Swarm's registry on the manager VM, the role images copied into it
(`stacklab images copy`: blobs as they are, no build on an emulated VM), then
`stack deploy ray_tuning`, every VM pulling from that registry. The same
search runs with 1, 2 and 3 Ray worker VMs (the 3rd is the manager, labelled
ray.worker for the run). Each point is the median of --tune-repeats runs with
the machine's load recorded next to each; the accelerator (KVM or TCG
emulation) and whether the VMs share this machine's cores are in the result.
Writes the "tune" entry of results/bench/p8.json (beside bench/p8_vms.py's runs).

    .venv/bin/python bench/p8_vm_tune.py [--tune-repeats 1] [--trials 4] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from p5_p6_swarm import (  # the same measurement as the local Swarm's
    label_ray_worker,
    scale_workers,
    tune_point,
)

from stacklab.cluster import deploy, images, registry
from stacklab.cluster import image_copy as copy
from stacklab.cluster.shell import REPO
from stacklab.core.results import part_dir, write_json
from stacklab.vm import cluster

PART = "ray_tuning"
ROLES = ("ray", "s3")   # what ray_tuning runs


def workload(args: argparse.Namespace) -> list[str]:
    # smaller than P6's: under TCG each VM runs ~10x slower than this machine's cores.
    # No held-out re-scoring: it runs in the driver on the manager VM after the
    # search (9 min there under TCG), and this bench times the search, not its gain
    return ["--searcher", "random", "--scheduler", "fifo", "--trials", str(args.trials),
            "--rows", str(args.rows), "--folds", "3", "--holdout", "0", "--seed", "0"]


def vm_swarm(count: int, hint: str) -> tuple[dict, str]:
    """The VMs' state and the manager's docker host, which every stacklab call below
    then talks to (STACKLAB_DOCKER_HOST), as the walkthrough says."""
    state = cluster.load_state()
    if not state or not state.get("ready") or len(state["vms"]) < count:
        sys.exit(f"bench: needs {count} VM(s) or more: {hint}")
    os.environ["STACKLAB_DOCKER_HOST"] = state["docker_host"]
    return state, state["docker_host"]


def use_vm_registry(state: dict) -> tuple[str, str]:
    """Stacks deploy images from the manager VM's registry, at the cache's tag."""
    address, tag = f"{state['manager']}:{registry.PORT}", copy.cached_tag()
    os.environ.update({"STACKLAB_REGISTRY": address, "STACKLAB_TAG": tag})
    return address, tag


def load_p8(path: Path) -> dict:
    """p8.json to add an entry to: this machine's, else the committed copy (its other
    entries, e.g. bench/p8_vms.py's runs, are kept either way)."""
    for candidate in (path, REPO / "docs" / "data" / "p8.json"):
        try:
            return json.loads(candidate.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
    return {"bench": "P8 vm up", "cpu_count": os.cpu_count(), "runs": []}


def prepull(address: str, tag: str, roles_by_vm: dict[int, tuple[str, ...]]) -> dict[str, float]:
    """Every VM pulls what it will run, all at once, before anything starts; seconds per VM.

    An emulated VM that unpacks a 1.9 GB image while Ray starts beside it
    starves Ray's start (stacklab/cluster/raystart.py stretches Ray's own
    waits, but a node still has to get through them): pulled first, Ray starts
    on VMs that have nothing else to do.
    """
    def pull(index: int) -> float:
        start = time.monotonic()
        for role in roles_by_vm[index]:
            ref = images.role_image(role, tag, address)
            code, _, err = cluster.vm_exec(index, ["docker", "pull", "-q", ref], timeout=3600)
            if code:
                sys.exit(f"bench: {cluster.vm_name(index)} could not pull {ref}: {err.strip()}")
        return round(time.monotonic() - start, 1)

    with ThreadPoolExecutor(len(roles_by_vm)) as pool:
        seconds = list(pool.map(pull, roles_by_vm))
    return {cluster.vm_name(i): s for i, s in zip(roles_by_vm, seconds, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune-repeats", type=int, default=1)
    parser.add_argument("--max-attempts", type=int, default=None)
    # the emulated VMs themselves keep this machine's cores busy (idle TCG guests
    # included): only load beyond theirs makes a run count as disturbed
    parser.add_argument("--foreign-limit", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()
    state, host = vm_swarm(1, "run `stacklab vm up --nodes 3` first")
    address, tag = use_vm_registry(state)
    steps: dict[str, float] = {}

    start = time.monotonic()
    registry.up(host, timeout=600)
    steps["registry_up_seconds"] = round(time.monotonic() - start, 1)
    steps["copy_seconds"] = round(copy.copy_roles(address, tag, ROLES), 1)
    print(f"registry {address} up in {steps['registry_up_seconds']} s, "
          f"{'+'.join(ROLES)} copied in {steps['copy_seconds']} s", flush=True)

    # s3 runs on the manager only; every VM runs a Ray node
    steps["pull_seconds"] = prepull(address, tag, {i: ROLES if i == 1 else ("ray",)
                                                   for i in range(1, len(state["vms"]) + 1)})
    print(f"pulled on every VM: {steps['pull_seconds']}", flush=True)

    start = time.monotonic()
    deploy.deploy(PART)
    deploy.wait_ray_nodes(PART, 3, timeout=3600)
    steps["deploy_to_ray_nodes_seconds"] = round(time.monotonic() - start, 1)
    print(f"deploy -> head + 2 worker VMs in Ray: {steps['deploy_to_ray_nodes_seconds']} s "
          "(images already pulled)", flush=True)

    search = workload(args)
    points = [tune_point(1, args, search), tune_point(2, args, search)]
    manager_node = cluster.vm_name(1)
    label_ray_worker(host, manager_node, True)
    try:
        points.append(tune_point(3, args, search))
    finally:
        scale_workers(2)
        label_ray_worker(host, manager_node, False)
    base = points[0]["wall_seconds"]
    for vms, point in enumerate(points, start=1):
        point.update({"vms": vms, "accel": state["accel"], "vcpus": state.get("cpus", 1),
                      # the VMs' vCPUs are QEMU threads on this machine's cores
                      "cores_shared": len(state["vms"]) > (os.cpu_count() or 1),
                      "speedup": round(base / point["wall_seconds"], 2)})
    print("VMs: " + ", ".join(f"{p['vms']} VM(s) {p['wall_seconds']} s (x{p['speedup']})"
                              for p in points), flush=True)
    # beside `vm up`'s timings (bench/p8_vms.py) in the one p8.json the report reads
    out = part_dir(None, "bench") / "p8.json"
    p8 = load_p8(out)
    p8["tune"] = {
        "accel": state["accel"], "accel_reason": state["accel_reason"],
        "memory_mib": state.get("memory_mib"), "vms_total": len(state["vms"]),
        "workload": search, "image_tag": tag, **steps, "runs": points}
    write_json(out, p8)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
