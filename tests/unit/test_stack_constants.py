"""The stack files repeat ports, paths and secret names that Python defines once in
stacklab.core.constants: every repetition must still match."""

from __future__ import annotations

import re

import pytest
import yaml

from stacklab import parts
from stacklab.core import constants as C
from tests.conftest import REPO

STACK_FILES = sorted({name for files in parts.stacks().values() for name in files})


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())  # resolves the files' anchors and merge keys


def health_port(service: dict) -> int:
    """The port a healthcheck probes (bash /dev/tcp, pg_isready -p)."""
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"/dev/tcp/127\.0\.0\.1/(\d+)", test) or re.search(r"-p (\d+)", test)
    assert match, test
    return int(match.group(1))


def test_every_stack_file_is_checked_here():
    assert STACK_FILES == ["federated/docker-stack.yml", "ray_train/docker-stack.yml", "ray_tuning/docker-stack.yml",
                           "swarm/ray-cluster.yml", "tuning/compose.yaml", "tuning/docker-stack.yml"]


def test_ray_cluster_ports_and_paths():
    services = load("swarm/ray-cluster.yml")["services"]
    assert health_port(services["s3"]) == C.S3_PORT
    assert health_port(services["head"]) == C.RAY_GCS_PORT
    assert services["s3"]["environment"]["S3_BUCKETS"] == C.RAY_BUCKET
    assert f"results:{C.RESULTS_MOUNT}" in services["head"]["volumes"]
    for role in ("head", "worker"):
        env = services[role]["environment"]
        assert env["AWS_ENDPOINT_URL"] == f"http://s3:{C.S3_PORT}"
        assert env["RAY_AUTH_TOKEN_PATH"] == f"{C.SECRETS_DIR}/ray_token"


@pytest.mark.parametrize("name", ["swarm/ray-cluster.yml", "ray_tuning/docker-stack.yml", "ray_train/docker-stack.yml"])
def test_ray_storage_is_in_the_bucket(name):
    services = load(name)["services"]
    for role in ("head", "worker"):
        storage = services[role]["environment"]["STACKLAB_STORAGE"]
        assert storage and storage.startswith(f"s3://{C.RAY_BUCKET}/"), (name, storage)


def test_federated_ports_and_paths():
    services = load("federated/docker-stack.yml")["services"]
    assert health_port(services["s3"]) == C.S3_PORT
    assert health_port(services["postgres"]) == C.FL_SWARM_POSTGRES_PORT
    assert health_port(services["controller"]) == C.CONTROLLER_PORT
    assert health_port(services["combiner"]) == C.COMBINER_PORT
    assert health_port(services["dashboard"]) == C.DASHBOARD_PORT
    published = services["dashboard"]["ports"][0]
    assert published["target"] == published["published"] == C.DASHBOARD_PORT
    assert services["postgres"]["volumes"] == [f"postgres-data:{C.FL_SWARM_STATE_DIR}/postgres"]
    assert services["s3"]["environment"]["S3_BUCKETS"] == ",".join(C.FEDN_BUCKETS)


def test_tuning_writes_into_the_results_volume():
    service = load("tuning/compose.yaml")["services"]["baseline"]
    assert f"--out {C.RESULTS_MOUNT}/tuning" in service["command"]
    assert f"results:{C.RESULTS_MOUNT}" in service["volumes"]


@pytest.mark.parametrize("name", STACK_FILES)
def test_secret_names_and_mounts(name):
    doc = load(name)
    known = {docker_name for docker_name, _ in C.SECRETS.values()}
    assert set(doc.get("secrets") or {}) <= known, name
    for service_name, service in (doc.get("services") or {}).items():
        for mount in service.get("secrets") or []:
            assert mount["source"] == C.docker_secret_name(mount["target"]), (name, service_name, mount)


def test_federated_containers_mount_every_fl_secret():
    services = load("federated/docker-stack.yml")["services"]
    for role in ("postgres", "controller", "combiner", "client", "dashboard"):
        assert {m["target"] for m in services[role]["secrets"]} == set(C.FL_SECRETS), role


def test_one_generator_per_secret(tmp_path):
    """`stacklab stack deploy` and `stacklab fl up` make a secret the same way."""
    from stacklab.cluster import secrets as docker_secrets
    from stacklab.federated.config import FLConfig
    from stacklab.federated.secrets import ensure_secrets

    local = ensure_secrets(FLConfig(state_dir=tmp_path))
    for key, value in local.items():
        swarm = docker_secrets.GENERATED[C.docker_secret_name(key)]()
        assert value != swarm
        assert len(value) == len(swarm), key
        if key == "s3_access_key":
            assert re.fullmatch(r"stacklab[0-9a-f]{16}", value) and re.fullmatch(r"stacklab[0-9a-f]{16}", swarm)
