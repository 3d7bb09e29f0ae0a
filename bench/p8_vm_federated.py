"""P8, federation part: the FEDn stack's three roles on three VMs (`stacklab vm up` first).

The way a cloud user runs it: role images copied into the Swarm's registry on
the manager VM (`stacklab images copy`), every VM pulls what its label asks for,
`stack deploy federated` against the manager, then `fl swarm-run`: the
session runs in the controller's container and its results (fl.json, plots,
the dashboard's snapshot) come back to this machine in results/federated_vm/.
VM1 is role=base (statestore, object store, controller, dashboard), VM2
role=combiner, VM3 role=clients (both clients). Writes the "federation" entry
of results/bench/p8.json: where each service ran, round times, accuracy.

    .venv/bin/python bench/p8_vm_federated.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from p8_vm_tune import load_p8, prepull, use_vm_registry, vm_swarm

from stacklab.cluster import deploy, registry
from stacklab.cluster import image_copy as copy
from stacklab.cluster.shell import docker, out
from stacklab.core.results import part_dir, write_json
from stacklab.federated.swarm import run as swarm

PART = "federated"
# what each VM runs, by its role label (cloud-cfg.txt's NODE_LABELS)
ROLES_BY_VM = {1: ("postgres", "s3", "fedn"), 2: ("fedn",), 3: ("fedn",)}


def placement(host: str) -> dict[str, list[str]]:
    """service -> the nodes its running tasks are on, as the manager sees it."""
    return {service: sorted(out(docker(host, "service", "ps", f"{PART}_{service}", "--filter",
                                       "desired-state=running", "--format", "{{.Node}}")).split())
            for service in deploy.stack_services(PART)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    state, host = vm_swarm(3, "run `stacklab vm up --nodes 3` first")
    address, tag = use_vm_registry(state)
    steps: dict = {}

    start = time.monotonic()
    registry.up(host, timeout=600)
    steps["registry_up_seconds"] = round(time.monotonic() - start, 1)
    steps["copy_seconds"] = round(copy.copy_roles(address, tag, ("fedn", "postgres", "s3")), 1)
    print(f"registry {address} up in {steps['registry_up_seconds']} s, "
          f"fedn+postgres+s3 copied in {steps['copy_seconds']} s", flush=True)
    steps["pull_seconds"] = prepull(address, tag, ROLES_BY_VM)
    print(f"pulled on every VM: {steps['pull_seconds']}", flush=True)

    start = time.monotonic()
    deploy.remove(PART, volumes=True)    # a fresh statestore: rounds numbered from 1
    deploy.deploy(PART)
    swarm.controller(timeout=1800)
    steps["deploy_to_controller_seconds"] = round(time.monotonic() - start, 1)
    print(f"deploy -> controller answering: {steps['deploy_to_controller_seconds']} s", flush=True)

    start = time.monotonic()
    result = swarm.swarm_run(args.rounds, out=part_dir(None, "federated_vm"))
    steps["session_seconds"] = round(time.monotonic() - start, 1)
    where = placement(host)
    print("placement: " + ", ".join(f"{s} on {','.join(n)}" for s, n in sorted(where.items())))

    out_file = part_dir(None, "bench") / "p8.json"
    p8 = load_p8(out_file)
    p8["federation"] = {
        "accel": state["accel"], "vcpus": state.get("cpus", 1), "memory_mib": state.get("memory_mib"),
        "cores_shared": len(state["vms"]) > (os.cpu_count() or 1),
        "image_tag": tag, **steps, "placement": where, "session_id": result["session_id"],
        "rounds": [{"round": r["round"], "status": r["status"], "seconds": r["seconds"],
                    "mean_accuracy": r["mean_accuracy"]} for r in result["rounds"]],
        "global": result["global"], "mean_round_seconds": result["mean_round_seconds"]}
    write_json(out_file, p8)
    print(f"wrote {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
