"""`stacklab fl swarm-run`: a session on the deployed federated stack, from the manager.

The session runner is the local one (`stacklab fl run`), executed with
`docker exec` inside the controller's container: it reaches the API on the
overlay network, holds the admin token (from the Docker secret) and the
global test set, and prints each round as it completes. Its results
directory is then copied back to results/federated_swarm/ (JSON first,
Markdown and plots as the local run writes them), and the stack's dashboard
page (fetched inside its container, data included) is captured there by
Chromium on this machine: dashboard.png/.html/.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from stacklab.core.constants import FL_SWARM_STATE_DIR as STATE_DIR
from stacklab.core.errors import UserError
from stacklab.core.results import part_dir

PART = "federated"           # the stack's name: `stacklab stack deploy federated`


def _api_by_name_url() -> str:
    from stacklab.federated.config import FLConfig
    from stacklab.federated.swarm.node import SERVICE_HOSTS

    # the URL the session inside the container calls (swarmnode.swarm_config sets host the same way)
    return f"{FLConfig(host=SERVICE_HOSTS['host']).api_url}/health"


def _answers_by_name(host: str, cid: str) -> bool:
    """Does the API answer at the service name, from inside the container, as the session will call it?"""
    from stacklab.cluster.shell import docker, run

    probe = ("import sys, urllib.request\n"
             f"try: sys.exit(urllib.request.urlopen({_api_by_name_url()!r}, timeout=3).status != 200)\n"
             "except OSError: sys.exit(1)")
    return run(docker(host, "exec", cid, "python", "-c", probe), check=False).returncode == 0


def controller(timeout: float = 300) -> tuple[str, str]:
    """(node docker host, container id) of the controller task, once the session can use it.

    Right after `stack deploy` the controller is still waiting for PostgreSQL
    and S3; Swarm's DNS lists it only once its healthcheck passes, and the
    name resolves a moment after that (measured: a session started at
    "healthy" once found `controller:8092` unreachable), so both are waited for.
    """
    from stacklab.cluster import deploy
    from stacklab.cluster.shell import docker, run

    deadline, said = time.monotonic() + timeout, ""
    while True:
        # right after a re-deploy the old tasks still run: a session started in the
        # old controller is killed (exit 137) when the update replaces it
        stale = deploy.stale_tasks(PART)
        states = [f"update rolling: {', '.join(stale)} still on the old image"] if stale else []
        for host, cid in [] if stale else deploy.service_containers(PART, "controller"):
            state = run(docker(host, "inspect", "-f", "{{.State.Health.Status}}", cid), check=False).stdout.strip()
            if state == "healthy":
                if _answers_by_name(host, cid):
                    return host, cid
                state = "healthy, not yet answering as controller"
            states.append(state or "gone")
        status = ", ".join(states) or "no task running"
        if time.monotonic() > deadline:
            raise UserError(f"the {PART} stack's controller is not ready after {timeout:.0f} s ({status}): "
                            f"`stacklab stack deploy {PART}` first, then see `stacklab stack ps {PART}` "
                            f"and `docker service logs {PART}_controller`")
        if status != said:
            print(f"fl swarm-run: waiting for the controller ({status})", flush=True)
            said = status
        time.sleep(2)


def swarm_run(rounds: int, out: str | Path | None = None, timeout: float = 3600) -> dict:
    """Run ``rounds`` rounds on the Swarm federation; returns the session's fl.json."""
    from stacklab.cluster.shell import docker, run

    if rounds < 1:
        raise UserError(f"rounds must be >= 1, not {rounds}: pass --rounds N")
    host, cid = controller()
    remote = f"{STATE_DIR}/results/{time.strftime('%Y%m%d-%H%M%S')}"
    # output not captured: the session's per-round lines reach the terminal as they happen
    proc = run(docker(host, "exec", cid, "python", "-m", "stacklab.cli", "fl", "run", "--no-snapshot",
                      "--rounds", str(rounds), "--state-dir", STATE_DIR, "--out", remote),
               check=False, capture=False, timeout=timeout)
    if proc.returncode != 0:
        raise UserError(f"the session in the controller container failed (exit {proc.returncode}): "
                        f"see the lines above and `docker service logs {PART}_controller`")
    target = part_dir(out, "federated_swarm")
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        run(docker(host, "cp", f"{cid}:{remote}/.", tmp))
        if not (Path(tmp) / "fl.json").exists():
            raise UserError(f"the session wrote no fl.json in {remote}: see `docker service logs {PART}_controller`")
        # complete results only: files replace the earlier run's once all were copied
        for path in sorted(Path(tmp).iterdir(), key=lambda p: p.name != "fl.json"):
            dest = target / path.name
            if path.is_dir():
                shutil.rmtree(dest, ignore_errors=True)
            path.replace(dest)
    result = json.loads((target / "fl.json").read_text())
    print(f"fl swarm-run: results in {target}")
    dashboard_snapshot(target, result["session_id"])
    return result


def dashboard_snapshot(target: Path, session_id: str) -> dict | None:
    """The stack's dashboard after the session, as Chromium here renders it; a failure is a note."""
    from stacklab.cluster import deploy
    from stacklab.cluster.shell import docker, run
    from stacklab.core.constants import DASHBOARD_PORT
    from stacklab.federated.dashboard.snapshot import capture_page, noted

    found = deploy.service_containers(PART, "dashboard")
    if not found:
        print(f"fl swarm-run: no dashboard snapshot: no {PART}_dashboard task is running")
        return None
    host, cid = found[0]
    # a dashboard started by the same deploy may still be preparing its held-out
    # set (refused connections): retried for two minutes, inside the container
    fetch = ("import sys, time, urllib.request\n"
             f"url = 'http://127.0.0.1:{DASHBOARD_PORT}/?session={session_id}'\n"
             "for attempt in range(60):\n"
             "    try:\n"
             "        page = urllib.request.urlopen(url, timeout=120).read().decode(); break\n"
             "    except OSError:\n"
             "        if attempt == 59: raise\n"
             "        time.sleep(2)\n"
             "sys.stdout.write(page)")

    def take() -> dict:
        page = run(docker(host, "exec", cid, "python", "-c", fetch), timeout=180).stdout
        return capture_page(page, target, source=f"{PART}_dashboard on the Swarm")

    return noted(take, target, log=lambda msg: print(f"fl swarm-run: {msg}"))


def register_swarm_run(sub) -> None:
    """The `fl swarm-run` subcommand (added to `stacklab fl`'s subparsers)."""
    parser = sub.add_parser("swarm-run", help="run a session on the deployed Swarm stack (stacklab stack deploy "
                                              "federated), printing each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="results directory (default results/federated_swarm)")
    parser.set_defaults(func=cmd_swarm_run)


def cmd_swarm_run(args) -> int:
    swarm_run(args.rounds, args.out)
    return 0
