"""The FEDn federation on the local 3-node Swarm, as a user runs it:
`stacklab stack deploy federated` -> `stacklab fl swarm-run --rounds 2` ->
dashboard from the manager -> `stacklab stack rm federated --volumes`.

One test (one deploy): the stack takes a minute to come up, and CI's budget
is shared with the Ray parts' Swarm tests. Stand-in data, small shares.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stacklab.cluster import deploy
from stacklab.cluster.shell import docker, out
from tests.conftest import run_cli
from tests.e2e_swarm.conftest import exec_in

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

PART = "federated"
SMALL = {"STACKLAB_FL_DATA": "standin", "STACKLAB_FL_TRAIN_PER_CLIENT": "200",
         "STACKLAB_FL_TEST_PER_CLIENT": "100", "STACKLAB_FL_GLOBAL_TEST": "200"}
ROLES = {"postgres": "base", "s3": "base", "controller": "base", "dashboard": "base",
         "combiner": "combiner", "client": "clients"}

# Remote addresses of established connections to the combiner's gRPC port (tcp and tcp6).
PEERS = r"""
import socket, struct
peers = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).readlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state != "01" or int(local.split(":")[1], 16) != 12080:
            continue
        word = remote.split(":")[0][-8:]           # IPv4 (or the v4 part of ::ffff:a.b.c.d)
        peers.add(socket.inet_ntoa(struct.pack("<I", int(word, 16))))
print(" ".join(sorted(peers)))
"""


def node_roles(host: str) -> dict[str, str]:
    """node hostname -> its role label."""
    roles = {}
    for node_id in out(docker(host, "node", "ls", "-q")).split():
        info = json.loads(out(docker(host, "node", "inspect", node_id)))[0]
        roles[info["Description"]["Hostname"]] = info["Spec"]["Labels"].get("role", "")
    return roles


def running_nodes(host: str, service: str) -> list[str]:
    return out(docker(host, "service", "ps", "--filter", "desired-state=running",
                      "--format", "{{.Node}}", f"{PART}_{service}")).split()


def overlay_ips(node_host: str, cid: str) -> set[str]:
    text = out(docker(node_host, "inspect", "-f",
                      "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid))
    return set(text.split())


def dashboard_from_manager(swarm: dict, path: str) -> dict:
    """HTTP GET from inside the manager node's network namespace (its published host port)."""
    manager = swarm["nodes"][0]
    code = ("import json, sys, urllib.request as u\n"
            f"print(u.urlopen('http://{manager['ip']}:8095{path}', timeout=20).read().decode())\n")
    proc = subprocess.run(["nsenter", f"--net=/run/netns/{manager['netns']}", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_federation_across_three_nodes(swarm, tmp_path):
    host = deploy.manager()
    deploy.remove(PART, volumes=True)              # a fresh stack and fresh data
    try:
        deploy.deploy(PART, env=SMALL)
        proc = run_cli("fl", "swarm-run", "--rounds", "2", "--out", tmp_path, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "round 2 (2/2)" in proc.stdout                      # followed round by round

        # every service runs where its label says, and nowhere else
        roles = node_roles(host)
        for service, role in ROLES.items():
            nodes = running_nodes(host, service)
            assert nodes and {roles[n] for n in nodes} == {role}, (service, nodes)
        assert len(running_nodes(host, "client")) == 2

        # 2 rounds, both clients validated each of them
        result = json.loads((tmp_path / "fl.json").read_text())
        assert [r["status"] for r in result["rounds"]] == ["Finished", "Finished"]
        assert result["clients"] == ["client1", "client2"]
        for rec in result["rounds"]:
            assert sorted(rec["clients"]) == ["client1", "client2"]
            assert all(c["accuracy"] is not None for c in rec["clients"].values()), rec
        assert result["global"]["final_accuracy"] > result["global"]["seed_accuracy"]

        # the two clients' gRPC streams reach the combiner from the clients node
        clients = deploy.service_containers(PART, "client")
        client_ips = set().union(*(overlay_ips(h, c) for h, c in clients))
        assert len(clients) == 2 and {h for h, _ in clients} == {swarm["nodes"][2]["socket"]}
        comb_host, comb = deploy.service_containers(PART, "combiner")[0]
        peers = set(exec_in(comb_host, comb, "python", "-c", PEERS).stdout.split())
        assert client_ips <= peers, (client_ips, peers)

        # the dashboard service answers the manager with this session's rounds
        data = dashboard_from_manager(swarm, f"/data.json?session={result['session_id']}")
        assert data["ok"] and data["session"]["status"] == "Finished"
        assert [r["status"] for r in data["session"]["rounds"]] == ["Finished", "Finished"]
        assert {c["name"] for c in data["clients"]} == {"client1", "client2"}
        # it scores the rounds' models on the controller's held-out set, from its own copy
        final = data["session"]["rounds"][-1]["global_accuracy"]
        assert final == pytest.approx(result["global"]["final_accuracy"], abs=1e-9), final
        assert data["data_source"], "the page does not say where the data came from"
    finally:
        proc = run_cli("stack", "rm", PART, "--volumes", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    label = f"label=com.docker.stack.namespace={PART}"
    for node in swarm["nodes"]:
        assert not out(docker(node["socket"], "ps", "-aq", "--filter", label)), node["name"]
        assert not out(docker(node["socket"], "volume", "ls", "-q", "--filter", label)), node["name"]
        assert not out(docker(node["socket"], "network", "ls", "-q", "--filter", label)), node["name"]
