"""A real N-node Docker Swarm on one machine: one network namespace + dockerd per node.

Each node is what a VM would be: its own network namespace (an address in a
documentation range on a private bridge; no default route, so nothing leaves
the machine), its own UTS namespace (its own hostname, so Ray and Swarm see
distinct nodes), its own dockerd (data-root, exec-root, socket, pidfile,
cgroup parent). The Swarm is then formed by swarm/node-bootstrap.sh, the same
script cloud-cfg.txt runs on real VMs. Everything created is recorded in a
state file *before* it is created, so `down` removes exactly that, even after
a failed `up`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from stacklab.cluster.shell import REPO, log, need_tool, out, run
from stacklab.core.errors import UserError
from stacklab.core.results import boot_id, from_earlier_boot, read_state, write_json

STATE_DIR = Path(os.environ.get("STACKLAB_CLUSTER_DIR", "/var/lib/stacklab-cluster"))
RUN_DIR = Path(os.environ.get("STACKLAB_CLUSTER_RUN", "/run/stacklab-cluster"))
STATE_FILE = STATE_DIR / "state.json"
BOOTSTRAP = REPO / "swarm" / "node-bootstrap.sh"
BRIDGE = "slbr0"
DEFAULT_SUBNET = "192.0.2.0/24"     # TEST-NET-1: never routed anywhere
ADDR_POOL = "198.18.0.0/16"         # RFC 2544 benchmark range, for the overlays
# Labels per node index (1-based): role = where the FEDn services go (issue #6),
# ray.head / ray.worker = where the Ray stacks put their nodes.
ROLE_BY_INDEX = {1: "base", 2: "combiner"}


def node_labels(index: int) -> dict[str, str]:
    labels = {"role": ROLE_BY_INDEX.get(index, "clients")}
    labels["ray.head" if index == 1 else "ray.worker"] = "true"
    return labels


def node_name(index: int) -> str:
    return f"stacklab-n{index}"


def node_ip(subnet: str, index: int) -> str:
    return str(ipaddress.ip_network(subnet)[10 + index])


def registry_address(subnet: str) -> str:
    """host:port of the cluster's registry: published on the manager (node 1) only."""
    from stacklab.cluster.registry import PORT

    return f"{node_ip(subnet, 1)}:{PORT}"


def socket_of(name: str) -> str:
    return f"unix://{RUN_DIR / name}.sock"


# ---------------------------------------------------------------- state
def load_state() -> dict[str, Any] | None:
    return read_state(STATE_FILE)


def save_state(state: dict[str, Any]) -> None:
    write_json(STATE_FILE, state)


def hosts() -> list[str]:
    """Docker hosts of the local cluster's nodes, manager first."""
    state = load_state()
    if not state or not state.get("ready"):
        raise UserError("no local cluster is up: run `stacklab cluster up --nodes 3` "
                        "(or set DOCKER_HOST to your manager)")
    return [n["socket"] for n in state["nodes"]]


def _left_by_dead_cluster(state: dict[str, Any]) -> bool:
    """A record whose every daemon is gone: nothing of it runs, so nothing is lost by clearing it.

    One daemon of several gone is kept as an error: its log says why.
    """
    if from_earlier_boot(state):
        return True
    pids = [n.get("pid") for n in state.get("nodes", [])]
    return bool(pids) and state.get("ready", False) and not any(pid_alive(p) for p in pids)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        # a daemon started by this process (the e2e fixture's `up`) stays a zombie
        # after it exits until reaped: reap it, or `down` waits 60 s for a corpse
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- up
def _preflight() -> None:
    if os.geteuid() != 0:
        raise UserError("the local cluster needs root (network namespaces, dockerd): "
                        "rerun as root or with sudo")
    for tool in ("ip", "iptables", "nsenter", "unshare", "dockerd", "docker"):
        need_tool(tool, "run scripts/system-deps.sh (docker.io, iproute2, iptables)")


def _bootstrap(host: str | None, *args: str, env: dict[str, str] | None = None,
               netns: str | None = None) -> None:
    cmd = ["bash", str(BOOTSTRAP), *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    run(cmd, env={**({"DOCKER_HOST": host} if host else {}), **(env or {})}, timeout=300)


def _start_dockerd(node: dict[str, Any], index: int) -> int:
    data_root, exec_root = Path(node["data_root"]), Path(node["exec_root"])
    for path in (data_root, exec_root):
        path.mkdir(parents=True, exist_ok=True)
    config = exec_root.parent / "daemon.json"
    # never inherit the host's /etc/docker/daemon.json; trust (plain HTTP) the
    # cluster's own registry on the manager, as node-bootstrap's docker-config
    # does on real VMs: an address inside the private cluster subnet only
    config.write_text(json.dumps({"insecure-registries": [node["registry"]]}) + "\n")
    log_file = open(node["log"], "ab")
    # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then
    # fails with "Devices cgroup isn't mounted". unshare --uts: own hostname.
    cmd = ["unshare", "--uts", "--", "nsenter", f"--net=/var/run/netns/{node['netns']}", "--",
           "sh", "-c", 'hostname "$0" && exec "$@"', node["name"],
           "dockerd", "--config-file", str(config), "--data-root", str(data_root),
           "--exec-root", str(exec_root), "-H", node["socket"], "--pidfile", node["pidfile"],
           "--bip", f"172.30.{index}.1/24", "--cgroup-parent", node["name"],
           "--userland-proxy=false", "--log-opt", "max-size=10m", "--log-opt", "max-file=2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc.pid


def _wait_daemon(node: dict[str, Any], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run(["docker", "-H", node["socket"], "info"], check=False).returncode == 0:
            return
        if not pid_alive(node["pid"]):
            break
        time.sleep(1)
    tail = Path(node["log"]).read_text(errors="replace").strip().splitlines()[-1:]
    raise UserError(f"dockerd of {node['name']} did not start ({tail[0] if tail else 'no log'}): "
                    f"see {node['log']}, then `stacklab cluster down`")


def up(nodes: int = 3, subnet: str = DEFAULT_SUBNET, base: str = "local",
       images: bool = True) -> dict[str, Any]:
    """Create the cluster (or return the running one); returns the state."""
    if nodes < 1 or nodes > 200:
        raise UserError(f"--nodes {nodes}: use 1 to 200")
    _preflight()
    state = load_state()
    if state and _left_by_dead_cluster(state):
        # e.g. the machine rebooted with a cluster up: its daemons, netns and
        # mounts are gone but the record and data-roots stay; clear them and start over
        log("the recorded local cluster is gone (machine rebooted or daemons killed): "
            "removing its leftovers and starting a new one")
        down()
        state = None
    if state and state.get("ready"):
        if len(state["nodes"]) != nodes:
            raise UserError(f"a local cluster of {len(state['nodes'])} nodes is up: "
                            "run `stacklab cluster down` first")
        if all(pid_alive(n["pid"]) for n in state["nodes"]):
            log("the local cluster is already up")
            if images:
                _images(state, base)
            return state
        raise UserError("the local cluster's daemons died: run `stacklab cluster down` "
                        "then `stacklab cluster up` again")
    if state:
        raise UserError(f"a half-made local cluster is recorded in {STATE_FILE}: "
                        "run `stacklab cluster down` first")
    net = ipaddress.ip_network(subnet)
    state = {"boot_id": boot_id(), "subnet": subnet, "bridge": BRIDGE, "pool": ADDR_POOL,
             "iptables": [],
             "nodes": [], "dirs": [str(STATE_DIR), str(RUN_DIR)], "ready": False}
    save_state(state)
    start = time.monotonic()
    try:
        _network(state, net, nodes)
        for index in range(1, nodes + 1):
            node = state["nodes"][index - 1]
            node["pid"] = _start_dockerd(node, index)
            save_state(state)
        for node in state["nodes"]:
            _wait_daemon(node)
        log(f"{nodes} dockerd up in {time.monotonic() - start:.0f} s")
        _swarm(state)
        state["ready"] = True
        save_state(state)
        if images:
            _images(state, base)
    except BaseException:
        log("cluster up failed; `stacklab cluster down` removes what was made")
        raise
    log(f"local swarm of {nodes} nodes ready in {time.monotonic() - start:.0f} s")
    return state


def _network(state: dict[str, Any], net: ipaddress.IPv4Network, count: int) -> None:
    bridge = state["bridge"]
    state["bridge_created"] = True
    save_state(state)
    run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "link", "set", bridge, "up"])
    # Once any dockerd has run, the root namespace's FORWARD chain drops
    # bridged frames (br_netfilter): let the nodes talk to each other.
    rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
    state["iptables"].append(rule)
    save_state(state)
    run(["iptables", "-I", *rule])
    for index in range(1, count + 1):
        name = node_name(index)
        node = {"name": name, "netns": name, "ip": node_ip(str(net), index),
                "veth": f"sl-n{index}", "socket": socket_of(name),
                "data_root": str(STATE_DIR / name), "exec_root": str(RUN_DIR / name / "x"),
                "pidfile": str(RUN_DIR / name / "dockerd.pid"),
                "log": str(STATE_DIR / f"{name}.log"), "pid": None,
                "labels": node_labels(index), "registry": registry_address(str(net))}
        state["nodes"].append(node)
        save_state(state)
        (RUN_DIR / name).mkdir(parents=True, exist_ok=True)
        run(["ip", "netns", "add", name])
        peer = f"sl-n{index}p"
        run(["ip", "link", "add", node["veth"], "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", name])
        run(["ip", "link", "set", node["veth"], "master", bridge, "up"])
        run(["ip", "-n", name, "link", "set", peer, "name", "eth0"])
        run(["ip", "-n", name, "addr", "add", f"{node['ip']}/{net.prefixlen}", "dev", "eth0"])
        run(["ip", "-n", name, "link", "set", "eth0", "up"])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        _bootstrap(None, "firewall", str(net), netns=name)


def _swarm(state: dict[str, Any]) -> None:
    manager, *workers = state["nodes"]
    _bootstrap(manager["socket"], "init", "--advertise-addr", manager["ip"],
               "--default-addr-pool", state["pool"])
    token = out(["docker", "-H", manager["socket"], "swarm", "join-token", "-q", "worker"])
    for node in workers:
        _bootstrap(node["socket"], "join", "--manager", manager["ip"], "--advertise-addr",
                   node["ip"], env={"SWARM_JOIN_TOKEN": token})
    specs = [f"{n['name']}=" + ",".join(f"{k}={v}" for k, v in n["labels"].items())
             for n in state["nodes"]]
    _bootstrap(manager["socket"], "label-wait", "60", *specs)


def _images(state: dict[str, Any], base: str) -> None:
    """The registry on the manager, the role images built there and pushed to it.

    No image is loaded into the other nodes: they pull on deploy.
    """
    from stacklab.cluster import registry

    start = time.monotonic()
    manager = state["nodes"][0]["socket"]
    state["registry"] = registry_address(state["subnet"])
    save_state(state)
    registry.up(manager, base, data_dir=registry.LOCAL_DATA)
    state["tag"] = registry.build_and_push(manager, base, state["registry"])
    state["image"] = f"{state['registry']}/stacklab-<role>:{state['tag']}"
    save_state(state)
    log(f"role images :{state['tag']} in the registry {state['registry']} in "
        f"{time.monotonic() - start:.0f} s")


# ---------------------------------------------------------------- down
def _kill_daemons(nodes: list[dict[str, Any]]) -> None:
    """SIGTERM every node's dockerd at once (each stops its containers), then wait."""
    pids = [n.get("pid") for n in nodes if pid_alive(n.get("pid"))]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _leftover_pids(paths: list[str]) -> list[int]:
    """containerd/shim processes started by our daemons (their command lines name our dirs)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(p in cmdline for p in paths):
            pids.append(int(proc.name))
    return pids


def _unmount_under(paths: list[str]) -> None:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted(mounts, key=len, reverse=True):
        if any(mount == p or mount.startswith(p.rstrip("/") + "/") for p in paths):
            run(["umount", "-l", mount], check=False)


def down() -> list[str]:
    """Remove exactly what `up` recorded; returns a list of what was removed."""
    state = load_state()
    if state is None:
        return []
    removed: list[str] = []
    nodes = state.get("nodes", [])
    _kill_daemons(nodes)
    ours = [p for n in nodes for p in (n["data_root"], n["exec_root"])]
    for pid in _leftover_pids(ours):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.5)
    _unmount_under(ours + [str(RUN_DIR)])
    for node in nodes:
        if run(["ip", "netns", "del", node["netns"]], check=False).returncode == 0:
            removed.append(f"netns {node['netns']}")
        run(["ip", "link", "del", node["veth"]], check=False)
        for controller in Path("/sys/fs/cgroup").glob(f"*/{node['name']}"):
            for child in sorted(controller.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir() if not any(child.iterdir()) else None
            try:
                controller.rmdir()
            except OSError:
                pass
        removed.append(f"dockerd {node['name']} (pid {node.get('pid')})")
    if state.get("bridge_created") and run(["ip", "link", "del", state["bridge"]],
                                           check=False).returncode == 0:
        removed.append(f"bridge {state['bridge']}")
    for rule in state.get("iptables", []):
        while run(["iptables", "-D", *rule], check=False).returncode == 0:
            removed.append("iptables " + " ".join(rule))
    # the data-roots hold GBs of image layers: delete them side by side
    removers = [subprocess.Popen(["rm", "-rf", n["data_root"], n["exec_root"]]) for n in nodes]
    for proc in removers:
        proc.wait()
    for node in nodes:
        Path(node["log"]).unlink(missing_ok=True)
    STATE_FILE.unlink(missing_ok=True)
    for directory in state.get("dirs", []):
        run(["rm", "-rf", directory], check=False)
    return removed


# ---------------------------------------------------------------- status
def status() -> dict[str, Any]:
    state = load_state()
    if state is None:
        return {"up": False}
    rows = []
    for node in state["nodes"]:
        rows.append({"node": node["name"], "ip": node["ip"], "daemon": pid_alive(node["pid"]),
                     "labels": ",".join(f"{k}={v}" for k, v in node["labels"].items())})
    swarm = ""
    if state.get("ready") and pid_alive(state["nodes"][0]["pid"]):
        swarm = run(["docker", "-H", state["nodes"][0]["socket"], "node", "ls"],
                    check=False).stdout
    return {"up": bool(state.get("ready")), "image": state.get("image"), "nodes": rows,
            "swarm": swarm}
