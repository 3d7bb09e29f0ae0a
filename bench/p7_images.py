"""P7 on the local 3-node Swarm (`stacklab cluster up --nodes 3` first): the role
images side by side with the previous single image, and what a worker pulls.

- each role image's size (uncompressed, as `docker image ls` shows it) next to
  the single kit image it replaces (measured if it is still on the manager,
  else the recorded figure from docs/data/p5_p6.json);
- what a worker node pulls: the last node (role=clients, ray.worker) runs Ray
  workers and FEDn clients, so it pulls the ray and fedn images: their layers
  are dropped there, pulled again, and timed; bytes on its disk afterwards
  (shared layers once) and compressed bytes sent by the registry;
- with --redeploy: a code change (one new file in the kit layer) built, pushed
  and rolled out to ray_tuning until all 3 Ray nodes run it, timed.
Targets: Ray image <= 1.5 GB, FEDn image <= 1.2 GB, worker pull <= 1.5 GB.
Writes results/bench/p7_images.json.

    .venv/bin/python bench/p7_images.py [--redeploy]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

from stacklab.cluster import deploy, images, local, registry
from stacklab.cluster.shell import REPO, docker, out, run
from stacklab.core.results import part_dir, write_json

TARGETS_GB = {"ray": 1.5, "fedn": 1.2, "worker_pull": 1.5}
WORKER_ROLES = ("ray", "fedn")     # what the clients / ray.worker node runs
RECORDED = REPO / "docs" / "data" / "p5_p6.json"
PREVIOUS_REPOS = ("stacklab", "stacklab-deps")
UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def gb(n: float) -> float:
    return round(n / 1e9, 2)


def parse_size(text: str) -> float:
    """Docker's human size ("1.403GB", "512MB (34%)") in bytes."""
    number = text.split()[0]
    for unit in sorted(UNITS, key=len, reverse=True):
        if number.endswith(unit):
            return float(number[: -len(unit)]) * UNITS[unit]
    return float(number)


def previous_image(host: str | None) -> dict:
    """The single image of the previous layout: measured if still on the manager, else recorded."""
    refs = out(docker(host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}")).split()
    for ref in refs:
        if ref.split(":")[0] in PREVIOUS_REPOS:
            return {"ref": ref, "gb": gb(images.image_size(host, ref)), "source": "measured now"}
    recorded = json.loads(RECORDED.read_text())["image_sizes_gb"]
    ref, size = max(recorded.items(), key=lambda kv: kv[1])
    return {"ref": ref, "gb": size,
            "source": f"recorded in {RECORDED.relative_to(REPO)} by bench/p5_p6_swarm.py "
                      "(no longer on the manager: the single image is gone)"}


def images_disk_bytes(host: str) -> float:
    """Bytes of image layers on a daemon, shared layers counted once (`docker system df`)."""
    for line in out(docker(host, "system", "df", "--format", "{{.Type}}\t{{.Size}}")).splitlines():
        kind, size = line.split("\t")
        if kind == "Images":
            return parse_size(size)
    return 0.0


def worker_pull(worker: str, refs: list[str]) -> dict:
    if out(docker(worker, "ps", "-q")):
        sys.exit("bench: the worker node runs containers: `stacklab stack rm` the stacks first")
    present = out(docker(worker, "image", "ls", "-q")).split()
    if present:
        run(docker(worker, "rmi", "-f", *present), check=False)
    run(docker(worker, "image", "prune", "-af"), check=False)
    before = images_disk_bytes(worker)
    start = time.monotonic()
    for ref in refs:
        run(docker(worker, "pull", "-q", ref), timeout=3600)
    seconds = time.monotonic() - start
    return {"refs": refs, "seconds": round(seconds, 1),
            "disk_gb": gb(images_disk_bytes(worker) - before)}


def redeploy(manager: str | None, reg: str) -> dict:
    """A code change to every node: new kit layer built + pushed, stack updated, all nodes on it."""
    if "ray_tuning" not in out(docker(manager, "stack", "ls", "--format", "{{.Name}}")).split():
        deploy.deploy("ray_tuning")
        deploy.wait_ray_nodes("ray_tuning", 3, timeout=600)
    start = time.monotonic()
    tag = registry.build_and_push(manager, "local", reg,
                                  extra={"swarm/code-change-stamp.txt": uuid.uuid4().hex})
    pushed = time.monotonic() - start
    deploy.deploy("ray_tuning", env={"STACKLAB_TAG": tag})
    deploy.wait_rollout("ray_tuning", ["head", "worker"], tag, 3, timeout=600)
    deploy.wait_ray_nodes("ray_tuning", 3, timeout=600)
    total = time.monotonic() - start
    deploy.remove("ray_tuning")
    return {"tag": tag, "build_push_seconds": round(pushed, 1),
            "rollout_seconds": round(total - pushed, 1), "total_seconds": round(total, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redeploy", action="store_true", help="also time a code-change redeploy")
    args = parser.parse_args()
    state = local.load_state()
    if not state or not state.get("ready") or not state.get("tag"):
        sys.exit("bench: no local cluster with pushed images: run `stacklab cluster up --nodes 3`")
    manager, reg = deploy.manager(), state["registry"]
    # the images of the code as it is now (a no-op when they are already pushed)
    tag = registry.build_and_push(manager, "local", reg)
    sizes = {role: gb(images.image_size(manager, images.role_image(role, tag)))
             for role in images.ROLES}
    previous = previous_image(manager)
    compressed = {role: registry.manifest_layers(manager, f"stacklab-{role}", tag)
                  for role in images.ROLES}
    worker_layers: dict[str, int] = {}
    for role in WORKER_ROLES:
        worker_layers.update(compressed[role])
    pull = worker_pull(state["nodes"][-1]["socket"],
                       [images.role_image(role, tag, reg) for role in WORKER_ROLES])
    pull["compressed_gb"] = gb(sum(worker_layers.values()))

    print(f"previous single image {previous['ref']}: {previous['gb']:.2f} GB ({previous['source']})")
    print("| image | size | vs previous | target |")
    print("|---|---|---|---|")
    for role, size in sizes.items():
        target = TARGETS_GB.get(role)
        print(f"| stacklab-{role}:{tag} | {size:.2f} GB | {size / previous['gb']:.2f} | "
              f"{f'<= {target} GB' if target else '-'} |")
    print(f"worker node pulls {' + '.join(pull['refs'])}: {pull['disk_gb']:.2f} GB on disk "
          f"(shared layers once; {pull['disk_gb'] / previous['gb']:.2f} of the previous image), "
          f"{pull['compressed_gb']:.2f} GB compressed over the network, {pull['seconds']:.0f} s "
          f"(target <= {TARGETS_GB['worker_pull']} GB)")
    bench = {"tag": tag, "registry": reg, "image_sizes_gb": sizes, "previous_image": previous,
             "compressed_gb": {role: gb(sum(layers.values())) for role, layers in compressed.items()},
             "worker_pull": pull, "targets_gb": TARGETS_GB,
             "machine": "one machine, 2 cores shared by every node (and other work)",
             "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    if args.redeploy:
        bench["code_change_redeploy"] = redeploy(manager, reg)
        r = bench["code_change_redeploy"]
        print(f"code change -> all 3 Ray nodes on the new image: {r['total_seconds']:.0f} s "
              f"(build + push {r['build_push_seconds']:.0f} s, rollout {r['rollout_seconds']:.0f} s)")
    path = write_json(part_dir(None, "bench") / "p7_images.json", bench)
    print(f"wrote {Path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
