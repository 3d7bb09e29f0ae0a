"""swarm/node-bootstrap.sh firewall, run for real inside a network namespace the
test creates: the Swarm ports are open to the cluster subnet only."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.conftest import REPO


@pytest.fixture
def netns():
    name = f"sltest-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def test_firewall_opens_swarm_ports_to_the_subnet_only(netns):
    script = str(REPO / "swarm" / "node-bootstrap.sh")
    for _ in range(2):  # idempotent: a second run changes nothing
        subprocess.run(["ip", "netns", "exec", netns, "bash", script, "firewall", "198.51.100.0/24"],
                       check=True, capture_output=True)
    rules = subprocess.run(["ip", "netns", "exec", netns, "iptables", "-S"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    assert rules.count("-A INPUT -j STACKLAB-SWARM") == 1
    chain = [r for r in rules if r.startswith("-A STACKLAB-SWARM")]
    for proto, port in (("tcp", 2377), ("tcp", 7946), ("udp", 7946), ("udp", 4789)):
        accept = f"-A STACKLAB-SWARM -s 198.51.100.0/24 -p {proto} -m {proto} --dport {port} -j ACCEPT"
        drop = f"-A STACKLAB-SWARM -p {proto} -m {proto} --dport {port} -j DROP"
        assert chain.index(accept) < chain.index(drop)
    esp = ["-A STACKLAB-SWARM -s 198.51.100.0/24 -p esp -j ACCEPT", "-A STACKLAB-SWARM -p esp -j DROP"]
    assert chain.index(esp[0]) < chain.index(esp[1])  # encrypted overlays: IPsec from the subnet
    assert len(chain) == 10


def test_firewall_opens_the_docker_api_to_one_address_only(netns):
    script = str(REPO / "swarm" / "node-bootstrap.sh")
    subprocess.run(["ip", "netns", "exec", netns, "bash", script, "firewall", "198.51.100.0/24",
                    "198.51.100.1"], check=True, capture_output=True)
    chain = [r for r in subprocess.run(["ip", "netns", "exec", netns, "iptables", "-S"], check=True,
                                       capture_output=True, text=True).stdout.splitlines()
             if r.startswith("-A STACKLAB-SWARM")]
    accept = "-A STACKLAB-SWARM -s 198.51.100.1/32 -p tcp -m tcp --dport 2375 -j ACCEPT"
    assert chain.index(accept) < chain.index("-A STACKLAB-SWARM -p tcp -m tcp --dport 2375 -j DROP")
