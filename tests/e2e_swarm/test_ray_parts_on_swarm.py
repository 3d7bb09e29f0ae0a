"""The lab's parts on a local 3-node Swarm, the way a user runs them:
`stacklab stack deploy <part>`, then `stacklab ray submit` (= docker exec into
the head + `ray job submit`), results read back afterwards."""

from __future__ import annotations

import json
import re

import pytest

from stacklab.cluster import deploy
from stacklab.cluster.shell import docker, out, run
from tests.conftest import REPO, run_cli
from tests.e2e_swarm.conftest import exec_in

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

S3_LIST = """
import boto3, os, sys
from stacklab.cluster.raynode import export_credentials
export_credentials(os.environ)  # a `docker exec` shell gets the secrets' files, not the env
s3 = boto3.client("s3")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="stacklab", Prefix=sys.argv[1]).get("Contents", [])]
print(len(keys))
"""


def s3_objects(part: str, prefix: str) -> int:
    proc = deploy.head_exec(part, "python", "-c", S3_LIST, prefix, check=False)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def test_ray_tuning_trials_spread_over_worker_nodes(stack, tmp_path):
    stack("ray_tuning")
    ips = deploy.wait_ray_nodes("ray_tuning", 3, timeout=300)
    assert len(set(ips)) == 3                          # head + 2 workers, distinct tasks
    # exactly the user's command: --smoke-test gives every trial a fresh actor
    proc = run_cli("ray", "submit", "--out", tmp_path, "ray_tuning", "--", "--smoke-test", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SUCCEEDED" in proc.stdout
    result = json.loads((tmp_path / "tune.json").read_text())
    trials = result["trials"]
    assert result["num_errors"] == 0 and len(trials) == result["num_trials"] == 4
    assert all(t["error"] is None for t in trials)     # (ASHA may stop some early)
    assert len({t["hostname"] for t in trials}) >= 2, [t["hostname"] for t in trials]
    assert {t["node_ip"] for t in trials} <= set(ips)
    # the experiment (trial results, tuner state) is on the cluster's S3 after the job
    prefix = result["experiment"].split("s3://stacklab/", 1)[1]
    assert s3_objects("ray_tuning", prefix) > 0
    # the lab's own words: `docker exec -it <head> /bin/bash`, then `ray job submit --
    # python tune.py`, in a login shell (its /etc/profile resets PATH)
    lab = run(docker(deploy.manager(), "exec", deploy.head_container("ray_tuning"), "bash", "-l",
                     "-c", "ray job submit -- python tune.py --smoke-test"),
              check=False, timeout=900)
    said = lab.stdout + lab.stderr
    # the bare CLI waits for the job and ends with "Job '<id>' succeeded"
    assert lab.returncode == 0 and re.search(r"Job '\S+' succeeded", said), said[-3000:]
    assert "best CV accuracy" in said and "s3://stacklab/ray_tuning/" in said, said[-3000:]


def test_ray_job_api_refuses_unauthenticated_clients(stack):
    stack("ray_tuning")
    deploy.wait_ray_nodes("ray_tuning", 3, timeout=300)
    host, worker = deploy.service_containers("ray_tuning", "worker")[0]
    probe = ("import urllib.request, urllib.error, sys\n"
             "req = urllib.request.Request('http://head:8265/api/jobs/', headers=dict(h.split(': ', 1) for h in sys.argv[1:]))\n"
             "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
             "except urllib.error.HTTPError as e:\n    print(e.code)\n")
    # from another node over the overlay: no token -> 401, a wrong one -> 403
    assert exec_in(host, worker, "python", "-c", probe).stdout.strip() == "401"
    assert exec_in(host, worker, "python", "-c", probe,
                   "Authorization: Bearer not-the-token").stdout.strip() == "403"
    token = exec_in(host, worker, "cat", "/run/secrets/ray_token").stdout.strip()
    assert exec_in(host, worker, "python", "-c", probe,
                   f"Authorization: Bearer {token}").stdout.strip() == "200"
    # and the real CLI without the token is refused
    refused = exec_in(host, worker, "env", "-u", "RAY_AUTH_TOKEN_PATH", "-u", "RAY_AUTH_MODE",
                      "ray", "job", "submit", "--address", "http://head:8265", "--", "echo", "hi")
    assert refused.returncode != 0
    assert "401" in refused.stdout + refused.stderr or "nauthorized" in refused.stdout + refused.stderr


def test_ray_train_two_workers_on_two_nodes(stack, tmp_path):
    stack("ray_train")
    deploy.wait_ray_nodes("ray_train", 3, timeout=300)
    proc = run_cli("ray", "submit", "--out", tmp_path, "ray_train", "--",
                   "--workers", "2", "--smoke-test", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "train.json").read_text())
    assert len({r["hostname"] for r in result["ranks"]}) == 2
    assert len(set(result["nodes"])) == 2
    assert result["checkpoint"].startswith("s3://stacklab/ray_train/")
    assert s3_objects("ray_train", result["checkpoint"].split("s3://stacklab/", 1)[1]) > 0


def test_tuning_baseline_runs_in_its_container(stack):
    stack("tuning", TUNING_ARGS="--rows 2000 --folds 3")
    assert deploy.wait_batch("tuning", "baseline", timeout=600) == "complete"
    logs = deploy.service_logs("tuning", "baseline")
    assert "3-fold CV on 2000 rows: accuracy 0." in logs, logs[-2000:]


def test_tuning_baseline_with_docker_compose_on_one_machine(swarm):
    """tuning/compose.yaml as a one-machine user runs it: `docker-compose up` (no Swarm
    involved: plain containers on one node's engine), then `down -v`."""
    host = deploy.node_hosts()[-1]
    compose = ["docker-compose", "-H", host, "-f", str(REPO / "tuning" / "compose.yaml"), "-p", "stacklabcompose"]
    env = {**deploy.image_env(), "TUNING_ARGS": "--rows 1500 --folds 3"}
    try:
        up = run([*compose, "up", "--abort-on-container-exit", "--exit-code-from", "baseline"],
                 check=False, env=env, timeout=600)
        assert up.returncode == 0, (up.stdout + up.stderr)[-2000:]
        assert "3-fold CV on 1500 rows: accuracy 0." in up.stdout, up.stdout[-2000:]
    finally:
        down = run([*compose, "down", "-v"], check=False, env=env, timeout=300)
    assert down.returncode == 0, down.stderr[-2000:]
    assert out(docker(host, "ps", "-aq", "--filter", "label=com.docker.compose.project=stacklabcompose")) == ""
