"""The federated Swarm stack and its overlays: what `docker stack config` renders, and how
each container turns the stack's environment + secrets into the FL config."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from stacklab.cluster import deploy, secrets
from stacklab.core.errors import UserError
from stacklab.federated.swarm import node as swarmnode
from tests.conftest import REPO

BASE = "federated/docker-stack.yml"
PLACEMENT = {"postgres": "base", "s3": "base", "controller": "base", "dashboard": "base",
             "combiner": "combiner", "client": "clients"}


def render(*files: str) -> dict:
    cmd = ["docker", "stack", "config"]
    for name in files:
        cmd += ["-c", str(REPO / name)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={"STACKLAB_REGISTRY": "r:5000", "STACKLAB_TAG": "test",
                               "PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_every_service_is_placed_on_its_labelled_node():
    services = render(BASE)["services"]
    assert set(services) == set(PLACEMENT)
    for name, role in PLACEMENT.items():
        svc = services[name]
        assert svc["deploy"]["placement"]["constraints"] == [f"node.labels.role == {role}"], name
        assert svc["deploy"]["endpoint_mode"] == "dnsrr", name       # no IPVS on the local nodes
        assert svc["deploy"]["restart_policy"]["condition"] == "any", name
        assert "depends_on" not in svc, name                           # Swarm ignores it
        if name != "client":
            assert "healthcheck" in svc, name


def test_clients_have_their_own_slot_and_the_dashboard_a_host_port():
    services = render(BASE)["services"]
    client = services["client"]
    assert client["deploy"]["replicas"] == 2
    assert client["environment"]["STACKLAB_FL_CLIENT_INDEX"] == "{{.Task.Slot}}"
    assert client["environment"]["STACKLAB_FL_N_CLIENTS"] == "2"
    ports = services["dashboard"]["ports"]
    assert ports == [{"mode": "host", "target": 8095, "published": 8095, "protocol": "tcp"}]
    assert all("ports" not in s for n, s in services.items() if n != "dashboard")
    # no hooks service: a name lookup that is never answered would stall round 1
    assert services["combiner"]["environment"]["HOOK_SERVICE_HOST"].startswith("127.0.0.1:")


def test_credentials_are_generated_docker_secrets_and_data_on_named_volumes():
    rendered = render(BASE)
    assert all(spec.get("external") for spec in rendered["secrets"].values())
    names = deploy.external_secrets(deploy.stack_files("federated"))
    assert set(names) <= set(secrets.GENERATED)
    assert {"stacklab_fl_postgres_password", "stacklab_fl_jwt_secret"} <= set(names)
    assert set(rendered["volumes"]) == {"postgres-data", "s3-data"}
    for svc in rendered["services"].values():
        for value in (svc.get("environment") or {}).values():
            assert "password" not in value.lower()


@pytest.mark.parametrize("overlay,added,dropped", [("federated/mongodb.overlay.yml", "mongo", "postgres"),
                                                    ("federated/minio.overlay.yml", "minio", "s3")])
def test_overlays_merge_and_replace_a_service(overlay, added, dropped):
    services = render(BASE, overlay)["services"]
    assert services[dropped]["deploy"]["replicas"] == 0
    assert services[added]["deploy"]["placement"]["constraints"] == ["node.labels.role == base"]
    assert services["controller"]["environment"]["STACKLAB_FL_AUTH"] == "true"   # base env kept


def test_mongodb_overlay_switches_the_statestore(monkeypatch, tmp_path):
    rendered = render(BASE, "federated/mongodb.overlay.yml")
    env = rendered["services"]["combiner"]["environment"]
    (tmp_path / "mongo_password").write_text("pw\n")
    monkeypatch.setattr(secrets, "SECRETS_DIR", tmp_path)
    store = swarmnode.statestore_override(env)
    assert store == {"type": "MongoDB", "mongo_config": {"username": "fedn", "password": "pw",
                                                         "host": "mongo", "port": 27017}}
    assert swarmnode.statestore_override({}) is None
    with pytest.raises(UserError, match="not supported"):
        swarmnode.statestore_override({"STACKLAB_FL_STATESTORE": "Redis"})


def test_container_config_comes_from_service_names_and_env(tmp_path):
    env = render(BASE, "federated/minio.overlay.yml")["services"]["client"]["environment"]
    env = {**env, "STACKLAB_FL_TRAIN_PER_CLIENT": "200", "STACKLAB_FL_CLIENT_INDEX": "2"}
    cfg = swarmnode.swarm_config(tmp_path, env)
    assert (cfg.host, cfg.postgres_host, cfg.combiner_host) == ("controller", "postgres", "combiner")
    assert cfg.api_url == "http://controller:8092"
    assert cfg.s3_endpoint == "http://minio:9000" and cfg.auth is True
    assert cfg.train_per_client == 200 and cfg.n_clients == 2 and not cfg.postgres_start
    with pytest.raises(UserError, match="train_per_client"):
        swarmnode.swarm_config(tmp_path, {"STACKLAB_FL_TRAIN_PER_CLIENT": "many"})


def test_prepare_refuses_missing_secrets(monkeypatch, tmp_path):
    monkeypatch.setattr(secrets, "SECRETS_DIR", tmp_path / "none")
    with pytest.raises(UserError, match="stack deploy federated"):
        swarmnode.read_secrets()


@pytest.mark.parametrize("role, waits", [
    ("client", ["PostgreSQL", "S3", "combiner"]),      # not before the combiner: /clients/add would stall the API
    ("combiner", ["PostgreSQL", "S3"]),
    ("controller", ["PostgreSQL", "S3"]),
])
def test_start_order_waits(role, waits, monkeypatch, tmp_path):
    from stacklab.federated import launch, task

    seen: list[tuple[str, str, int]] = []
    monkeypatch.setattr(swarmnode, "wait_for", lambda what, host, port: seen.append((what, host, port)))
    monkeypatch.setattr(task, "prepare_partitions", lambda cfg: None)
    monkeypatch.setattr(launch, "main", lambda argv: seen.append(("launch", argv[0], 0)) or 0)
    monkeypatch.chdir(tmp_path)                          # the client chdirs into its own dir
    monkeypatch.setenv("STACKLAB_FL_CLIENT_DIR", "")     # and sets this: restored afterwards
    cfg = swarmnode.swarm_config(tmp_path, {})
    cfg.client_dir(1).mkdir(parents=True)
    assert swarmnode.run_fedn(role, cfg) == 0
    assert [what for what, _, _ in seen] == [*waits, "launch"]
    if role == "client":
        assert seen[2] == ("combiner", "combiner", 12080)
