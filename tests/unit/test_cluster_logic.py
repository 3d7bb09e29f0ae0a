"""Pure logic of the cluster code: node plan, Ray command lines, job arguments."""

from __future__ import annotations

import os
import subprocess

import pytest

from stacklab.cluster import deploy, local, raynode
from stacklab.core import results
from stacklab.core.errors import UserError


def test_node_plan_is_in_the_documentation_range():
    ips = [local.node_ip(local.DEFAULT_SUBNET, i) for i in (1, 2, 3)]
    assert ips == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    assert local.node_labels(1) == {"role": "base", "ray.head": "true"}
    assert local.node_labels(2) == {"role": "combiner", "ray.worker": "true"}
    assert local.node_labels(3)["role"] == local.node_labels(7)["role"] == "clients"


def test_ray_head_command(monkeypatch):
    monkeypatch.setattr(raynode.netinfo, "own_ip", lambda: "10.9.0.5")
    monkeypatch.setattr(raynode.netinfo, "interface_of", lambda ip: "eth0")
    env = {"STACKLAB_RAY_CPUS": "0", "STACKLAB_RAY_MEMORY": "1500m", "STACKLAB_RAY_OBJECT_STORE": "256m"}
    cmd = raynode.start_command("head", env)
    assert cmd[1:5] == ["-m", "stacklab.cluster.raystart", "start", "--block"]
    assert "--head" in cmd and "--node-ip-address=10.9.0.5" in cmd and "--num-cpus=0" in cmd
    assert f"--memory={1500 * 2**20}" in cmd and f"--object-store-memory={256 * 2**20}" in cmd
    assert "--port=6379" in cmd and "--dashboard-port=8265" in cmd
    assert env["GLOO_SOCKET_IFNAME"] == "eth0"


def test_ray_worker_command_uses_its_address_towards_the_head(monkeypatch):
    monkeypatch.setattr(raynode.netinfo, "resolve", lambda name, timeout=0: "10.9.0.5")
    monkeypatch.setattr(raynode.netinfo, "wait_port", lambda *a, **k: True)
    monkeypatch.setattr(raynode.netinfo, "source_ip_towards", lambda ip: "10.9.0.7")
    monkeypatch.setattr(raynode.netinfo, "interface_of", lambda ip: None)
    cmd = raynode.start_command("worker", {"STACKLAB_RAY_CPUS": "1"})
    assert "--address=head:6379" in cmd and "--node-ip-address=10.9.0.7" in cmd
    assert "--head" not in cmd


def test_a_worker_follows_the_head_to_its_new_address(monkeypatch):
    # rolling update: the name resolves to the head being replaced, then to the new one
    answers = iter(["10.9.0.5", "10.9.0.5", "10.9.0.8"])
    monkeypatch.setattr(raynode.netinfo, "resolve", lambda name, timeout=0: next(answers))
    monkeypatch.setattr(raynode.netinfo, "wait_port", lambda ip, port, timeout: ip == "10.9.0.8")
    monkeypatch.setattr(raynode.time, "sleep", lambda s: None)
    assert raynode.wait_for_head("head", timeout=60) == "10.9.0.8"


def test_credentials_come_from_secret_files(tmp_path, monkeypatch):
    (tmp_path / "ray_token").write_text("tok\n")
    (tmp_path / "s3_access_key").write_text("AK\n")
    (tmp_path / "s3_secret_key").write_text("SK\n")
    monkeypatch.setattr(raynode.secrets, "SECRETS_DIR", tmp_path)
    env = {"RAY_AUTH_TOKEN_PATH": str(tmp_path / "ray_token")}
    raynode.export_credentials(env)
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["AWS_ACCESS_KEY_ID"] == "AK" and env["AWS_SECRET_ACCESS_KEY"] == "SK"


def test_job_args_fill_in_storage_and_out_but_respect_the_user():
    args = deploy.job_args("ray_tuning", ["--smoke-test"], "s3://stacklab/ray_tuning", "/results/j")
    assert args == ["--smoke-test", "--address", "auto", "--storage", "s3://stacklab/ray_tuning",
                    "--out", "/results/j"]
    mine = deploy.job_args("ray_tuning", ["--storage=/x", "--out", "/o"], "s3://s", "/r")
    assert mine == ["--storage=/x", "--out", "/o", "--address", "auto"]


def test_unknown_part_is_a_user_error():
    with pytest.raises(UserError, match="no stack for part"):
        deploy.stack_files("nope")


def test_cluster_commands_need_a_cluster(monkeypatch, tmp_path):
    monkeypatch.setattr(local, "STATE_FILE", tmp_path / "state.json")
    with pytest.raises(UserError, match="stacklab cluster up"):
        local.hosts()


def test_cli_errors_are_one_line(tmp_path):
    from tests.conftest import assert_one_line_error, run_cli

    env = {"STACKLAB_CLUSTER_DIR": str(tmp_path), "STACKLAB_DOCKER_HOST": "unix:///nonexistent.sock"}
    assert_one_line_error(run_cli("stack", "deploy", "nope", env=env), "no stack for part")
    assert_one_line_error(run_cli("ray", "submit", "nope", env=env), "invalid choice")
    assert_one_line_error(run_cli("cluster", "up", "--nodes", "0", env=env), "--nodes 0")


def test_a_cluster_recorded_before_this_boot_is_cleared_not_refused(monkeypatch, tmp_path):
    # CI machines start from a disk where a cluster was left up: its record
    # names daemons of another boot
    boot = tmp_path / "boot_id"
    boot.write_text("this-boot\n")
    monkeypatch.setattr(results, "BOOT_ID", boot)
    alive = {"nodes": [{"pid": os.getpid()}], "ready": True}
    assert not local._left_by_dead_cluster({**alive, "boot_id": "this-boot"})
    assert local._left_by_dead_cluster({**alive, "boot_id": "an-earlier-boot"})
    dead_pid = _a_pid_that_exited()
    # records written before boot ids were kept: all daemons dead means gone
    assert local._left_by_dead_cluster({"nodes": [{"pid": dead_pid}] * 3, "ready": True})
    # one daemon of three dead is a crash to read about, not a leftover to clear
    some = {"nodes": [{"pid": dead_pid}, {"pid": os.getpid()}], "ready": True,
            "boot_id": "this-boot"}
    assert not local._left_by_dead_cluster(some)


def _a_pid_that_exited() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
