"""Issue #8 on the local Swarm: a Tune run survives losing a worker node (R1) and
losing the head (R2: it resumes from its S3 storage path without re-running
finished trials)."""

from __future__ import annotations

import json
import time

import pytest

from stacklab.cluster import deploy
from stacklab.cluster.shell import docker, run

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

# FIFO so every trial runs its full length; trials of a few seconds each, fresh
# actors, so each node gets trials and a kill always hits running work.
SEARCH = ["--searcher", "random", "--scheduler", "fifo", "--trials", "6", "--rows", "3000",
          "--folds", "3", "--no-reuse-actors", "--max-failures", "3"]


SAVED_TERMINATED = """
import os, sys, boto3
from stacklab.cluster.raynode import export_credentials
export_credentials(os.environ)
s3 = boto3.client("s3")
objs = s3.list_objects_v2(Bucket="stacklab", Prefix=sys.argv[1]).get("Contents", [])
states = sorted(o["Key"] for o in objs if "experiment_state" in o["Key"])
body = s3.get_object(Bucket="stacklab", Key=states[-1])["Body"].read().decode() if states else ""
print(body.count("TERMINATED"))
"""


def saved_terminated(part: str, name: str) -> int:
    """Trials the experiment state on S3 records as finished (what a resume keeps)."""
    proc = deploy.head_exec(part, "python", "-c", SAVED_TERMINATED, f"{part}/{name}/", check=False)
    return int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def tune_json(part: str, info: dict, tmp_path) -> dict:
    deploy.copy_results(part, info["out"], tmp_path)
    return json.loads((tmp_path / "tune.json").read_text())


def test_r1_worker_node_killed_mid_tune(stack, tmp_path):
    stack("ray_tuning")
    deploy.wait_ray_nodes("ray_tuning", 3, timeout=300)
    info = deploy.submit("ray_tuning", [*SEARCH, "--name", f"r1-{time.time_ns()}"], follow=False)
    wait_for(lambda: deploy.started_trials("ray_tuning", info["job_id"]) >= 1,
             300, "trials to run")
    time.sleep(8)
    victims = deploy.service_containers("ray_tuning", "worker")
    host, cid = victims[-1]
    run(docker(host, "kill", cid))                # the node's raylet and its trials die
    assert deploy.wait_job("ray_tuning", info["job_id"], timeout=1200) == "SUCCEEDED"
    result = tune_json("ray_tuning", info, tmp_path)
    assert result["num_trials"] == 6 and result["num_errors"] == 0
    assert all(t["error"] is None and t["completed"] for t in result["trials"])


def test_r2_head_killed_and_run_resumed_from_storage(stack, tmp_path):
    stack("ray_tuning")
    deploy.wait_ray_nodes("ray_tuning", 3, timeout=300)
    name = f"r2-{time.time_ns()}"  # the S3 volume may hold earlier runs
    deploy.submit("ray_tuning", [*SEARCH, "--name", name], follow=False)
    # Tune saves its experiment state to S3 periodically: kill once that saved
    # state (what a resume restores) holds at least two finished trials.
    wait_for(lambda: saved_terminated("ray_tuning", name) >= 2, 600,
             "two finished trials in the saved experiment state")
    killed_at = time.time()
    run(docker(deploy.manager(), "kill", deploy.head_container("ray_tuning")))
    # Swarm restarts the head (restart_policy any); the workers' raylets lose
    # the old GCS, exit, and are restarted against the new head.
    time.sleep(5)
    deploy.wait_ray_nodes("ray_tuning", 3, timeout=600)
    second = deploy.submit("ray_tuning", [*SEARCH, "--name", name, "--resume"], follow=False)
    assert deploy.wait_job("ray_tuning", second["job_id"], timeout=1200) == "SUCCEEDED"
    result = tune_json("ray_tuning", second, tmp_path)
    assert result["num_trials"] == 6 and result["num_errors"] == 0
    before = [t for t in result["trials"] if t["finished_at"] and t["finished_at"] < killed_at]
    assert len(before) >= 2, "finished trials were re-run after the resume"
    assert all(t["completed"] for t in result["trials"])
