"""P8, faults: a worker VM powered off mid-tune, then the manager VM rebooted.

Runs after bench/p8_vm_tune.py, on the ray_tuning stack it deployed (2 Ray
worker VMs). 1) A search is submitted and VM3's power is cut while trials
run (`stacklab vm power-off 3`, --cut-after s after the 2nd trial started:
QEMU killed, no shutdown inside); the search must finish with every trial on
the remaining worker (Tune's FailureConfig retries the lost ones), then VM3
boots from its disk and rejoins the Swarm. 2) The manager VM's power is cut
and it boots again: the Swarm's nodes, the stacks, the registry and the
results stored in the head's volume must come back.
Writes the "faults" entry of results/bench/p8.json.

    .venv/bin/python bench/p8_vm_faults.py [--trials 6] [--rows 3000] [--cut-after 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from p8_vm_tune import PART, load_p8, vm_swarm, workload

from stacklab.cluster import deploy, registry
from stacklab.cluster.shell import docker, out
from stacklab.core.results import part_dir, write_json
from stacklab.vm import cluster

RESULTS_MOUNT = "/results"   # the head's named volume (swarm/ray-cluster.yml)


def worker_powered_off(args: argparse.Namespace) -> dict:
    deploy.wait_ray_nodes(PART, 3, timeout=1800)       # head + the workers on VM2 and VM3
    info = deploy.submit(PART, workload(args), follow=False)
    started = trials_started(info["job_id"], count=2)  # one trial on each worker VM
    time.sleep(args.cut_after)
    cut = time.monotonic()
    cluster.power_off(3)
    print(f"{cluster.vm_name(3)} powered off {args.cut_after} s after trial 2 of {args.trials} "
          f"started ({started} s after the submit)", flush=True)
    status = deploy.wait_job(PART, info["job_id"], timeout=7200)
    search_seconds_after_cut = round(time.monotonic() - cut, 1)
    with tempfile.TemporaryDirectory() as tmp:
        deploy.copy_results(PART, info["out"], Path(tmp))
        summary = json.loads((Path(tmp) / "tune.json").read_text()) if (Path(tmp) / "tune.json").exists() else {}
    print(f"search {status}: {summary.get('num_trials')} trials, {summary.get('num_errors')} errors, "
          f"{search_seconds_after_cut} s after the cut", flush=True)
    rejoin = cluster.power_on(3)
    deploy.wait_ray_nodes(PART, 3, timeout=1800)
    print(f"{cluster.vm_name(3)} back in the Swarm after {rejoin} s, and in Ray", flush=True)
    return {"job_status": status, "trials_requested": args.trials, "trials": summary.get("num_trials"),
            "errors": summary.get("num_errors"), "nodes_used": summary.get("nodes"),
            "cut_after_seconds": args.cut_after, "trials_started_seconds": started,
            "search_seconds_after_cut": search_seconds_after_cut,
            "rejoin_seconds": rejoin, "job_out": info["out"]}


def trials_started(job_id: str, count: int, timeout: float = 1800) -> float:
    """Seconds until ``count`` trials have started, read from the job's log: the cut
    must hit running trials, and the driver's own start on an emulated manager VM
    takes minutes (a fixed delay after the submit would cut before any trial)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if deploy.started_trials(PART, job_id) >= count:
            return round(time.monotonic() - start, 1)
        time.sleep(10)
    sys.exit(f"bench: {count} trials of job {job_id} had not started after {timeout:.0f} s")


def stored_results(host: str) -> list[str]:
    """The job results in the head's volume, read by a throw-away container on the manager."""
    volume = f"{PART}_results"
    image = out(docker(host, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                       f"{PART}_head")).strip()
    return sorted(out(docker(host, "run", "--rm", "-v", f"{volume}:{RESULTS_MOUNT}:ro", image,
                             "ls", RESULTS_MOUNT)).split())


def catalog(host: str) -> list[str]:
    """The repositories the Swarm's registry on the manager serves (its volume's content)."""
    address = host.removeprefix("tcp://").rsplit(":", 1)[0]
    url = f"http://{address}:{registry.PORT}/v2/_catalog"
    for _ in range(60):    # the registry service restarts with the manager's dockerd
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return sorted(json.load(reply)["repositories"])
        except OSError:
            time.sleep(5)
    return []


def swarm_contents(host: str) -> dict:
    """What a manager reboot must not lose: its stacks, the stored results, the registry's images."""
    return {"stacks": sorted(out(docker(host, "stack", "ls", "--format", "{{.Name}}")).split()),
            "results": stored_results(host), "registry": catalog(host)}


def manager_rebooted(host: str) -> dict:
    before = swarm_contents(host)
    cluster.power_off(1)
    print(f"{cluster.vm_name(1)} (manager) powered off", flush=True)
    back = cluster.power_on(1)
    start = time.monotonic()
    deploy.wait_ray_nodes(PART, 3, timeout=1800)
    ray_back = round(time.monotonic() - start, 1)
    after = swarm_contents(host)
    print(f"manager back: Swarm Ready after {back} s, Ray head + workers {ray_back} s later; "
          f"stacks {after['stacks']}, {len(after['results'])} stored results "
          f"(before: {len(before['results'])})", flush=True)
    return {"swarm_ready_seconds": back, "ray_nodes_seconds_after": ray_back, "before": before, "after": after,
            "stacks_back": after["stacks"] == before["stacks"],
            "results_kept": set(before["results"]) <= set(after["results"]),
            "registry_kept": after["registry"] == before["registry"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--cut-after", type=float, default=20.0,
                        help="seconds after the 2nd trial started")
    args = parser.parse_args()
    state, host = vm_swarm(3, "with ray_tuning deployed: run bench/p8_vm_tune.py first")
    faults = {"accel": state["accel"], "worker_powered_off": worker_powered_off(args),
              "manager_rebooted": manager_rebooted(host)}
    out_file = part_dir(None, "bench") / "p8.json"
    p8 = load_p8(out_file)
    p8["faults"] = faults
    write_json(out_file, p8)
    print(f"wrote {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
