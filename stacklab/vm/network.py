"""The VMs' private network: a namespace holding a bridge and one tap per VM.

QEMU runs inside the namespace, so its taps never appear on the host. One veth
pair joins the host to the bridge: the host gets the subnet's first address
and reaches every VM (docker API, registry pushes) while nothing is routed
off the machine (the VMs get no default route). 198.51.100.0/24 (TEST-NET-2)
keeps clear of the local namespace cluster's 192.0.2.0/24 on slbr0.
Every step is recorded in the caller's state (``record``) before it is taken.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from stacklab.cluster.shell import run

NETNS = "stacklab-vm"
SUBNET = "198.51.100.0/24"
HOST_VETH = "slvm0"        # host side; its peer is "uplink" on the bridge inside NETNS
BRIDGE = "br0"             # inside NETNS: no clash with any host bridge


def host_ip(subnet: str = SUBNET) -> str:
    return str(ipaddress.ip_network(subnet)[1])


def vm_mac(index: int) -> str:
    # locally administered QEMU prefix; 51:64 = 0x33, 0x64 -> "3.100" of TEST-NET-2
    return f"52:54:00:33:64:{index:02x}"


def create(state: dict[str, Any], record: Callable[[], None], count: int) -> None:
    """Namespace, bridge, taps tap1..tapN, host veth; recorded in state["net"]."""
    net = ipaddress.ip_network(state["subnet"])
    state["net"] = {"netns": NETNS, "host_veth": HOST_VETH, "host_ip": host_ip(str(net))}
    record()
    run(["ip", "netns", "add", NETNS])
    ns = ["ip", "-n", NETNS]
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "link", "add", BRIDGE, "type", "bridge"])
    run([*ns, "link", "set", BRIDGE, "up"])
    run(["ip", "link", "add", HOST_VETH, "type", "veth", "peer", "name", "uplink"])
    run(["ip", "link", "set", "uplink", "netns", NETNS])
    run([*ns, "link", "set", "uplink", "master", BRIDGE, "up"])
    run(["ip", "addr", "add", f"{host_ip(str(net))}/{net.prefixlen}", "dev", HOST_VETH])
    run(["ip", "link", "set", HOST_VETH, "up"])
    for index in range(1, count + 1):
        tap = f"tap{index}"
        run([*ns, "tuntap", "add", "dev", tap, "mode", "tap"])
        run([*ns, "link", "set", tap, "master", BRIDGE, "up"])


def remove(state: dict[str, Any]) -> list[str]:
    """Delete what create() recorded (deleting the namespace takes its bridge and taps)."""
    net = state.get("net")
    if not net:
        return []
    removed = []
    if run(["ip", "netns", "del", net["netns"]], check=False).returncode == 0:
        removed.append(f"netns {net['netns']} (bridge, taps)")
    # normally gone with its peer; deleted explicitly after a half-made up
    if run(["ip", "link", "del", net["host_veth"]], check=False).returncode == 0:
        removed.append(f"veth {net['host_veth']}")
    return removed


def in_netns(cmd: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *cmd]
