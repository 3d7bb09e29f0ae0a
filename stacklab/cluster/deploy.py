"""Stacks on a Swarm: deploy / remove / list a part, and submit Ray jobs to its head.

Works the same on the local cluster (`stacklab cluster up`) and on real VMs:
the manager is $STACKLAB_DOCKER_HOST, else the local cluster's manager, else
Docker's own default ($DOCKER_HOST, e.g. ssh://user@manager, or this machine).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from stacklab import parts
from stacklab.cluster import local, registry, secrets
from stacklab.cluster.shell import REPO, docker, log, out, run
from stacklab.core.constants import RAY_DASHBOARD_PORT, RESULTS_MOUNT
from stacklab.core.errors import UserError

# part -> its stack files in merge order, and the script `stacklab ray submit <part>`
# runs in its head (it adds the cluster's shared storage and the results volume
# unless the user gave them): both from the one table of parts.
# A part not listed deploys <part>/docker-stack.yml alone.
PARTS: dict[str, list[str]] = parts.stacks()
RAY_ENTRY: dict[str, str] = parts.ray_entries()
# Ray's job API, as seen from inside the head container
JOB_API = f"http://127.0.0.1:{RAY_DASHBOARD_PORT}"


def manager() -> str | None:
    if os.environ.get("STACKLAB_DOCKER_HOST"):
        return os.environ["STACKLAB_DOCKER_HOST"]
    state = local.load_state()
    if state and state.get("ready"):
        return state["nodes"][0]["socket"]
    return None


def image_env() -> dict[str, str]:
    """STACKLAB_REGISTRY and STACKLAB_TAG: what the stack files' image: lines name
    (<registry>/stacklab-<role>:<tag>). The environment wins, then the local
    cluster's registry, then the tag last pushed there from this machine."""
    state = local.load_state() or {}
    reg = registry.address()
    tag = os.environ.get("STACKLAB_TAG") or (state.get("tag") if reg == state.get("registry")
                                             else None) or (reg and registry.last_pushed(reg))
    if not reg or not tag:
        raise UserError("no role images to deploy: run `stacklab images push --registry HOST:PORT` "
                        "(or `stacklab cluster up`), or set STACKLAB_REGISTRY and STACKLAB_TAG")
    return {"STACKLAB_REGISTRY": reg, "STACKLAB_TAG": tag}


def stack_images(files: list[Path], env: dict[str, str]) -> list[str]:
    """The image of every service of the merged stack files, as the deploy renders them."""
    cmd = ["docker", "stack", "config"]
    for path in files:
        cmd += ["-c", str(path)]
    rendered = yaml.safe_load(out(cmd, env=env, timeout=60)) or {}
    return [svc["image"] for svc in (rendered.get("services") or {}).values() if svc.get("image")]


def stack_files(part: str) -> list[Path]:
    names = PARTS.get(part, [f"{part}/docker-stack.yml"])
    files = [REPO / name for name in names]
    missing = [str(f.relative_to(REPO)) for f in files if not f.exists()]
    if missing:
        known = ", ".join(sorted(PARTS))
        raise UserError(f"no stack for part {part!r} ({', '.join(missing)} missing): use one of {known}")
    return files


def external_secrets(files: list[Path]) -> list[str]:
    names: list[str] = []
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        for key, spec in (doc.get("secrets") or {}).items():
            if isinstance(spec, dict) and spec.get("external"):
                names.append(spec.get("name", key))
    return names


def deploy(part: str, env: dict[str, str] | None = None) -> None:
    """`docker stack deploy` of a part, creating its secrets first."""
    host, files = manager(), stack_files(part)
    created = secrets.ensure(host, external_secrets(files))
    if created:
        log(f"created Docker secrets {', '.join(created)} (random values)")
    full_env = {**image_env(), **(env or {})}
    # a missing tag is one line here, not "No such image" on each node later
    registry.check_available(host, stack_images(files, full_env))
    # default --resolve-image (always): the manager pins each tag to its digest
    # in the registry and every node pulls exactly that
    cmd = docker(host, "stack", "deploy", "--with-registry-auth", "--prune")
    for path in files:
        cmd += ["-c", str(path)]
    run([*cmd, part], env=full_env, timeout=300)


def remove(part: str, wait: bool = True, timeout: float = 120, volumes: bool = False) -> list[str]:
    """`docker stack rm`; with ``volumes`` also the stack's named volumes on every node
    (they hold the data: PostgreSQL, S3). Returns the volumes removed."""
    host = manager()
    run(docker(host, "stack", "rm", part), check=False)
    deadline = time.monotonic() + timeout
    label = f"label=com.docker.stack.namespace={part}"
    # `stack rm` returns at once; a redeploy must wait for tasks (on every node we can
    # reach, not just the manager) and networks to go.
    hosts = node_hosts()
    while (wait or volumes) and time.monotonic() < deadline:
        busy = any(out(docker(h, "ps", "-aq", "--filter", label)) for h in hosts)
        nets = out(docker(host, "network", "ls", "-q", "--filter", label))
        if not busy and not nets:
            break
        time.sleep(1)
    return remove_volumes(part, deadline) if volumes else []


def node_hosts() -> list[str | None]:
    """Every node's daemon on the local cluster; on real VMs only the manager's is reachable."""
    if os.environ.get("STACKLAB_DOCKER_HOST"):   # another Swarm than the local cluster
        return [manager()]
    state = local.load_state()
    return [n["socket"] for n in state["nodes"]] if state and state.get("ready") else [manager()]


def remove_volumes(part: str, deadline: float) -> list[str]:
    """Named volumes live on each node that ran a task: remove them node by node, once
    the tasks' containers are gone there (a volume in use cannot be removed)."""
    label = f"label=com.docker.stack.namespace={part}"
    removed = []
    for node_host in node_hosts():
        while True:
            names = out(docker(node_host, "volume", "ls", "-q", "--filter", label)).split()
            if not names:
                break
            busy = out(docker(node_host, "ps", "-aq", "--filter", label))
            if not busy:
                run(docker(node_host, "volume", "rm", *names), check=False)
                removed += names
            if time.monotonic() > deadline:
                raise UserError(f"volumes {', '.join(names)} of {part} still in use: see `docker ps -a` "
                                "on that node")
            time.sleep(1)
    return removed


def ps(part: str | None = None) -> str:
    host = manager()
    if part:
        return out(docker(host, "stack", "ps", "--no-trunc", "--format",
                          "{{.Name}}\t{{.Node}}\t{{.CurrentState}}\t{{.Error}}", part))
    return out(docker(host, "stack", "ls"))


# ---------------------------------------------------------------- tasks
def service_containers(part: str, service: str) -> list[tuple[str, str]]:
    """(node docker host, container id) of a service's running tasks, on any node."""
    found = []
    for node_host in node_hosts():
        ids = out(docker(node_host, "ps", "-q", "--filter",
                         f"label=com.docker.swarm.service.name={part}_{service}")).split()
        found += [(node_host, cid) for cid in ids]
    return found


def stack_services(part: str) -> list[str]:
    """The services of a deployed stack, by their names in its file (without the stack prefix)."""
    names = out(docker(manager(), "service", "ls", "--filter",
                       f"label=com.docker.stack.namespace={part}", "--format", "{{.Name}}")).split()
    return [name[len(part) + 1:] for name in names]


def running_images(part: str, service: str) -> list[tuple[str | None, str, str]]:
    """(node host, container, image) of each running task of a service."""
    return [(node, cid, out(docker(node, "inspect", "-f", "{{.Config.Image}}", cid), check=False).strip())
            for node, cid in service_containers(part, service)]


def stale_tasks(part: str) -> list[str]:
    """Services of the stack with a running task of an older spec (an update is still rolling)."""
    stale = []
    for service in stack_services(part):
        wanted = out(docker(manager(), "service", "inspect", "-f",
                            "{{.Spec.TaskTemplate.ContainerSpec.Image}}", f"{part}_{service}"),
                     check=False).strip()
        if wanted and any(image and image != wanted for _, _, image in running_images(part, service)):
            stale.append(service)
    return stale


def wait_rollout(part: str, services: list[str], tag: str, count: int,
                 timeout: float = 600) -> list[tuple[str | None, str, str]]:
    """Block until ``count`` running tasks of the services run an image tagged ``tag``
    (a service update replaces tasks one by one); (node host, container, image) of each."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = [task for service in services for task in running_images(part, service)]
        on_tag = [t for t in tasks if f":{tag}@" in t[2] or t[2].endswith(f":{tag}")]
        if len(on_tag) >= count and len(on_tag) == len(tasks):
            return on_tag
        if time.monotonic() > deadline:
            raise UserError(f"{len(on_tag)} of {count} tasks of {part} run :{tag} after "
                            f"{timeout:.0f} s: see `stacklab stack ps {part}`")
        time.sleep(1)


def head_container(part: str, timeout: float = 300) -> str:
    """Container id of the part's running Ray head (on the manager)."""
    host, deadline = manager(), time.monotonic() + timeout
    while True:
        ids = out(docker(host, "ps", "-q", "--filter",
                         f"label=com.docker.swarm.service.name={part}_head")).split()
        if ids:
            return ids[0]
        if time.monotonic() > deadline:
            raise UserError(f"no running Ray head for {part}: `stacklab stack deploy {part}` "
                            f"first, then check `stacklab stack ps {part}`")
        time.sleep(1)


def head_exec(part: str, *cmd: str, timeout: float = 3600, check: bool = True,
              capture: bool = True) -> subprocess.CompletedProcess:
    return run(docker(manager(), "exec", head_container(part), *cmd), timeout=timeout,
               check=check, capture=capture)


def wait_ray_nodes(part: str, count: int, timeout: float = 300) -> list[str]:
    """Block until ``count`` Ray nodes (head included) are alive; their IPs.

    The count is read inside the head; a head that Swarm replaces meanwhile (a
    failed start, a health check on a slow VM) ends that `docker exec`, so the
    wait goes on in the next head until the time is up.
    """
    deadline = time.monotonic() + timeout
    ips: list[str] = []
    while True:
        cid = head_container(part, max(deadline - time.monotonic(), 1))
        left = max(5.0, deadline - time.monotonic())
        proc = run(docker(manager(), "exec", cid, "python", "-m", "stacklab.cluster.raywait",
                          str(count), str(left)), check=False, timeout=left + 60)
        try:
            ips = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            pass  # this head went before it answered: keep the last count
        if proc.returncode == 0:
            return ips
        if time.monotonic() >= deadline:
            raise UserError(f"only {len(ips)} of {count} Ray nodes of {part} came up in "
                            f"{timeout:.0f} s: see `stacklab stack ps {part}` and "
                            f"`docker service logs {part}_worker`")
        time.sleep(2)


def job_args(part: str, args: list[str], storage: str, out_dir: str) -> list[str]:
    given = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    extra = []
    if "--address" not in given:
        extra += ["--address", "auto"]
    if "--storage" not in given and storage:
        extra += ["--storage", storage]
    if "--out" not in given:
        extra += ["--out", out_dir]
    return [*args, *extra]


def submit(part: str, args: list[str], results: Path | None = None,
           follow: bool = True) -> dict[str, Any]:
    """`ray job submit` of the part's entry script inside its head; results copied back.

    The part's directory as it is on this machine is the job's working dir,
    so a user's edits to the thin entry script are what runs.
    """
    if part not in RAY_ENTRY:
        raise UserError(f"{part!r} has no Ray job: use one of {', '.join(RAY_ENTRY)}")
    host, cid = manager(), head_container(part)
    job_id = f"{part}-{time.strftime('%Y%m%d-%H%M%S')}"
    workdir = f"/tmp/submit/{job_id}"
    run(docker(host, "exec", cid, "mkdir", "-p", workdir))
    src = REPO / part
    files = [p for p in src.iterdir() if p.is_file() and p.suffix in {".py", ".txt", ".yaml", ".yml"}]
    for path in files:
        run(docker(host, "cp", str(path), f"{cid}:{workdir}/{path.name}"))
    # the user's real data (data/train.csv, what --data auto reads) goes in with the
    # part's folder: the job's driver reads it and Ray ships it to the trials
    user_data = src / "data"
    if user_data.is_dir():
        run(docker(host, "cp", str(user_data), f"{cid}:{workdir}/data"))
    storage = out(docker(host, "exec", cid, "printenv", "STACKLAB_STORAGE"), check=False)
    out_dir = f"{RESULTS_MOUNT}/{job_id}"
    cmd = ["ray", "job", "submit", "--address", JOB_API,
           "--submission-id", job_id, "--working-dir", workdir]
    if not follow:
        cmd.append("--no-wait")
    cmd += ["--", "python", RAY_ENTRY[part], *job_args(part, args, storage, out_dir)]
    log(f"ray job {job_id}: {' '.join(shlex.quote(c) for c in cmd[cmd.index('--') + 1:])}")
    start = time.monotonic()
    proc = run(docker(host, "exec", cid, *cmd), check=False, capture=False, timeout=7200)
    info = {"job_id": job_id, "head": cid, "exit_code": proc.returncode, "out": out_dir,
            "seconds": round(time.monotonic() - start, 1)}
    if follow:
        info["status"] = job_status(part, job_id)
        if results is not None:
            info["results"] = str(copy_results(part, out_dir, results))
    return info


def job_status(part: str, job_id: str) -> str:
    """SUCCEEDED / FAILED / STOPPED / RUNNING / PENDING as `ray job status` reports it."""
    proc = head_exec(part, "ray", "job", "status", "--address", JOB_API,
                     job_id, check=False)
    text = proc.stdout + proc.stderr
    match = re.search(r"Status for job '[^']+': (\w+)", text) or \
        re.search(r"Job '[^']+' (succeeded|failed|stopped|is running|is pending)", text)
    if not match:
        return "UNKNOWN"
    return match.group(1).upper().replace("IS ", "")


def copy_results(part: str, remote_dir: str, local_dir: Path) -> Path:
    """docker cp the job's results directory out of the head."""
    local_dir.mkdir(parents=True, exist_ok=True)
    run(docker(manager(), "cp", f"{head_container(part)}:{remote_dir}/.", str(local_dir)),
        check=False)
    return local_dir


def wait_batch(part: str, service: str, timeout: float = 600) -> str:
    """Wait for a run-once service's task to end; its final state (complete/failed/...)."""
    host, deadline = manager(), time.monotonic() + timeout
    name = f"{part}_{service}"
    while time.monotonic() < deadline:
        states = out(docker(host, "service", "ps", "--format", "{{.CurrentState}}", name),
                     check=False).lower().splitlines()
        done = [s.split()[0] for s in states if s.split() and s.split()[0] in
                ("complete", "failed", "rejected", "shutdown")]
        if done and len(done) == len(states):
            return done[0]
        time.sleep(2)
    raise UserError(f"{name} did not finish in {timeout:.0f} s: see `docker service ps {name}`")


def service_logs(part: str, service: str) -> str:
    proc = run(docker(manager(), "service", "logs", "--raw", f"{part}_{service}"), check=False)
    return proc.stdout + proc.stderr


def job_logs(part: str, job_id: str) -> str:
    return head_exec(part, "ray", "job", "logs", "--address", JOB_API,
                     job_id, check=False).stdout


def started_trials(part: str, job_id: str) -> int:
    """Tune trials the job has started so far, as its log announces them."""
    return job_logs(part, job_id).count("started with configuration")


def wait_job(part: str, job_id: str, timeout: float = 1800) -> str:
    """Poll a submitted job until it ends; its final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(part, job_id)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(3)
    raise UserError(f"Ray job {job_id} still running after {timeout:.0f} s")
