"""Every stack file passes `docker stack config` (Swarm's own schema check), and the
Ray stacks keep the properties the cluster depends on."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from stacklab.cluster import deploy
from tests.conftest import REPO

STACK_FILES = sorted({f for files in deploy.PARTS.values() for f in files})
IMAGE_ENV = {"STACKLAB_REGISTRY": "192.0.2.11:5000", "STACKLAB_TAG": "t123"}
# each service's role image: Ray's parts never run FEDn's image and vice versa
ROLE_OF_SERVICE = {"head": "ray", "worker": "ray", "baseline": "ray", "s3": "s3",
                   "postgres": "postgres", "controller": "fedn", "combiner": "fedn",
                   "client": "fedn", "dashboard": "fedn"}


def stack_config(*files: str) -> subprocess.CompletedProcess:
    cmd = ["docker", "stack", "config"]
    for name in files:
        cmd += ["-c", str(REPO / name)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={**IMAGE_ENV, "PATH": "/usr/local/bin:/usr/bin:/bin"})


@pytest.mark.parametrize("name", STACK_FILES)
def test_each_file_is_accepted(name):
    proc = stack_config(name)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("part", sorted(deploy.PARTS))
def test_each_part_merges(part):
    proc = stack_config(*deploy.PARTS[part])
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout)
    for name, service in rendered["services"].items():
        role = ROLE_OF_SERVICE[name]
        assert service["image"] == f"192.0.2.11:5000/stacklab-{role}:t123", f"{part}/{name}"
        for forbidden in ("build", "container_name", "extends"):
            assert forbidden not in service, f"{part}/{name} uses {forbidden}"


def test_the_validator_rejects_a_typo(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.9"\nservices:\n  x:\n    image: a\n    deploy: {replicass: 2}\n')
    proc = subprocess.run(["docker", "stack", "config", "-c", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "replicass" in proc.stderr


@pytest.mark.parametrize("part", ["ray_tuning", "ray_train"])
def test_ray_stack_properties(part):
    rendered = yaml.safe_load(stack_config(*deploy.PARTS[part]).stdout)
    services = rendered["services"]
    assert {"head", "worker", "s3"} <= set(services)
    for name, service in services.items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name   # no IPVS, real task IPs
        assert "ports" not in service, f"{name} publishes a port"
        assert service["deploy"]["resources"]["limits"]["cpus"], name
        assert service["deploy"]["restart_policy"]["condition"] in ("any", "on-failure")
        assert "healthcheck" in service and "update_config" in service["deploy"]
    head, worker = services["head"], services["worker"]
    assert "node.role == manager" in head["deploy"]["placement"]["constraints"]
    assert worker["deploy"]["placement"]["max_replicas_per_node"] == 1
    assert worker["deploy"]["replicas"] == 2
    for node in (head, worker):
        env = node["environment"]
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN_PATH"].startswith("/run/secrets/")
        assert env["STACKLAB_STORAGE"] == f"s3://stacklab/{part}"
        shm = [v for v in node["volumes"] if v["target"] == "/dev/shm"]
        assert shm and shm[0]["type"] == "tmpfs" and shm[0]["tmpfs"]["size"] >= 512 * 2**20
    assert all(spec.get("external") for spec in rendered["secrets"].values())
    assert set(rendered["volumes"]) >= {"s3-data", "results"}


def test_secrets_named_in_stacks_are_generated():
    from stacklab.cluster import secrets

    for part in ("ray_tuning", "ray_train"):
        names = deploy.external_secrets(deploy.stack_files(part))
        assert names and set(names) <= set(secrets.GENERATED)


def test_lab_step_validates_every_part(tmp_path):
    from stacklab.cluster.check import lab_step

    row = lab_step(tmp_path)
    assert row["value"] == f"{len(deploy.PARTS)}/{len(deploy.PARTS)}"
    assert (tmp_path / "swarm" / "stacks.json").exists()


def test_images_default_to_a_registry_on_this_machine():
    """Unset variables still render: Docker's own registry tutorial address, tag latest."""
    proc = subprocess.run(["docker", "stack", "config", "-c", str(REPO / "swarm/ray-cluster.yml")],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    images = {svc["image"] for svc in yaml.safe_load(proc.stdout)["services"].values()}
    assert images == {"127.0.0.1:5000/stacklab-ray:latest", "127.0.0.1:5000/stacklab-s3:latest"}


def test_registry_stack_is_published_on_the_manager_only():
    proc = subprocess.run(["docker", "stack", "config", "-c", str(REPO / "swarm/registry.yml"),
                           "-c", str(REPO / "swarm/registry.local.yml")], capture_output=True,
                          text=True, timeout=60, env={"STACKLAB_REGISTRY_DATA": "/srv/reg",
                                                      "PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout)
    service = rendered["services"]["registry"]
    assert service["ports"] == [{"mode": "host", "target": 5000, "published": 5000,
                                 "protocol": "tcp"}]
    assert service["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert service["volumes"][0]["source"] == "registry-data"
    assert rendered["volumes"]["registry-data"]["driver_opts"]["device"] == "/srv/reg"
