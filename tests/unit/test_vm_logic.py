"""stacklab vm's pure logic: per-node rendering of cloud-cfg.txt, node settings,
image cache key, accelerator choice, the guest-agent protocol, CLI errors."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest
import yaml

from stacklab.core.errors import UserError
from stacklab.vm import cluster, image, machine, network, seed
from stacklab.vm.agent import Agent, AgentTimeout
from tests.conftest import assert_one_line_error, run_cli

TEMPLATE = seed.CLOUD_CFG.read_text()


def _render(index: int) -> dict:
    env = cluster.node_env(index, 3, network.SUBNET, "tcg")
    return yaml.safe_load(seed.render(TEMPLATE, env, "ssh-ed25519 PUB join\n", "PRIVATE\n"))


def _file(doc: dict, path: str) -> dict | None:
    return next((f for f in doc["write_files"] if f["path"] == path), None)


def test_the_manager_gets_the_forced_command_key_and_no_private_key():
    doc = _render(1)
    root = next(u for u in doc["users"] if isinstance(u, dict) and u["name"] == "root")
    assert root["ssh_authorized_keys"] == [
        'command="docker swarm join-token -q worker",no-port-forwarding,no-agent-forwarding,'
        "no-X11-forwarding,no-pty ssh-ed25519 PUB join"]
    assert _file(doc, seed.JOIN_KEY_PATH) is None
    env = _file(doc, seed.NODE_ENV)["content"]
    assert "ROLE=manager" in env and "OFFLINE=yes" in env and "DOCKER_API_FROM=198.51.100.1" in env
    assert "stacklab-vm2=role=combiner,ray.worker=true" in env
    assert "DISPATCHER_HEARTBEAT=20s" in env  # TCG


def test_a_worker_gets_the_private_key_and_no_authorized_keys():
    doc = _render(2)
    root = next(u for u in doc["users"] if isinstance(u, dict) and u["name"] == "root")
    assert "ssh_authorized_keys" not in root
    assert _file(doc, seed.JOIN_KEY_PATH)["content"] == "PRIVATE\n"
    env = _file(doc, seed.NODE_ENV)["content"]
    assert "ROLE=worker" in env and "NODE_IP=198.51.100.12" in env and "MANAGER_IP=198.51.100.11" in env
    assert "DOCKER_API_FROM=''" in env and "NODE_LABELS=''" in env
    # everything else of cloud-cfg.txt is kept as is
    assert doc["runcmd"] == yaml.safe_load(TEMPLATE)["runcmd"]


def test_node_env_refuses_a_template_without_the_key():
    with pytest.raises(UserError, match="OFFLINE"):
        seed.set_env("ROLE=manager\n", {"ROLE": "worker", "OFFLINE": "yes"})


def test_network_config_matches_by_mac_without_a_gateway():
    cfg = yaml.safe_load(seed.network_config(network.vm_mac(2), "198.51.100.12/24"))
    eth = cfg["ethernets"]["eth0"]
    assert eth["match"]["macaddress"] == "52:54:00:33:64:02" and eth["addresses"] == ["198.51.100.12/24"]
    assert "gateway4" not in eth and "routes" not in eth


def test_vm_subnet_does_not_collide_with_the_local_cluster():
    import ipaddress

    from stacklab.cluster import local

    assert not ipaddress.ip_network(network.SUBNET).overlaps(ipaddress.ip_network(local.DEFAULT_SUBNET))
    assert network.host_ip() == "198.51.100.1"


def test_memory_sizes():
    assert cluster.memory_mib("3G") == 3072 and cluster.memory_mib("2048m") == 2048
    for bad in ("3X", "", "512M"):
        with pytest.raises(UserError):
            cluster.memory_mib(bad)


def test_image_key_follows_its_inputs(monkeypatch):
    key = image.image_key()
    monkeypatch.setattr(image, "PACKAGES", [*image.PACKAGES, "git"])
    assert image.image_key() != key
    monkeypatch.setattr(image, "PACKAGES", image.PACKAGES[:-1])
    monkeypatch.setitem(image.BAKED, "etc/fstab", "changed\n")
    assert image.image_key() != key


def test_accelerator_without_kvm_is_tcg_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(machine.os, "access", lambda *a: False)
    accel, line = machine.choose_accel("/nonexistent", tmp_path)
    assert accel == "tcg" and "\n" not in line and "no usable /dev/kvm" in line
    with pytest.raises(UserError, match="--accel kvm"):
        machine.choose_accel("/nonexistent", tmp_path, "kvm")


def test_kvm_probe_is_bounded(monkeypatch, tmp_path):
    """A guest that never prints is given up on (here: a stand-in that sleeps)."""
    monkeypatch.setattr(machine, "QEMU", "sleep")
    monkeypatch.setattr(machine, "ACCELS", {"kvm": ["30"]})
    import time

    start = time.monotonic()
    assert machine.kvm_boots("/nonexistent", tmp_path, seconds=1.5) is False
    assert time.monotonic() - start < 5


class FakeAgent(threading.Thread):
    """qemu-guest-agent's side of the socket: stale bytes first, then real answers."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(5)

    def run(self) -> None:
        while True:
            conn, _ = self.server.accept()
            with conn:
                conn.sendall(b'{"return": {}}\n{"tor')  # left over from an earlier client
                for line in conn.makefile("rb"):
                    msg = json.loads(line)
                    replies = {
                        "guest-sync": msg.get("arguments", {}).get("id"),
                        "guest-ping": {},
                        "guest-exec": {"pid": 42},
                        "guest-exec-status": {
                            "exited": True, "exitcode": 3,
                            "out-data": base64.b64encode(b"hello\n").decode(),
                            "err-data": base64.b64encode(b"oops\n").decode()},
                    }
                    reply = replies[msg["execute"]]
                    conn.sendall(b"\n" + json.dumps({"return": reply}).encode() + b"\n")


def test_agent_syncs_past_stale_bytes_and_runs_a_command(tmp_path):
    path = str(tmp_path / "qga.sock")
    FakeAgent(path).start()
    agent = Agent(path, timeout=5)
    assert agent.ping()
    assert agent.exec("echo hello; exit 3") == (3, "hello\n", "oops\n")


def test_agent_without_a_guest_times_out(tmp_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "qga.sock"))
    server.listen(1)  # QEMU accepts, but no agent runs in the guest yet
    assert Agent(str(tmp_path / "qga.sock")).ping(timeout=0.5) is False
    with pytest.raises(AgentTimeout):
        Agent(str(tmp_path / "missing.sock")).call("guest-ping", timeout=0.5)


def test_cli_bad_input_is_one_line(tmp_path):
    env = {"STACKLAB_VM_DIR": str(tmp_path / "vm")}
    assert_one_line_error(run_cli("vm", "up", "--memory", "3X", env=env), "--memory")
    assert_one_line_error(run_cli("vm", "exec", "1", "--", "true", env=env), "no VMs are up")
    proc = run_cli("vm", "status", env=env)
    assert proc.returncode == 1 and "no VMs are up" in proc.stdout
    assert run_cli("vm", "down", env=env).stdout.strip() == "no VMs were up"
