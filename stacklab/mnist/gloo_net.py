"""Binding Gloo to the interface that carries the Ray node's IP.

Across hosts, Gloo picks its interface from the hostname, which in containers
and VMs often resolves to 127.0.0.1; connectFullMesh then fails (see
/work/shared/notes/ray.md). Interface names can differ between nodes, so
instead of one GLOO_SOCKET_IFNAME for all, every Ray worker process runs
``set_gloo_ifname`` at start-up (a runtime_env worker_process_setup_hook) and
sets it from its own node's IP, before Ray Train creates the process group.
"""

from __future__ import annotations

import os
import socket

SETUP_HOOK = "stacklab.mnist.gloo_net.set_gloo_ifname"


def interface_for_ip(ip: str) -> str | None:
    """Name of the local interface holding IPv4 address ip, if any."""
    import psutil

    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == ip for a in addresses):
            return name
    return None


def set_gloo_ifname() -> None:
    """Worker start-up hook: GLOO_SOCKET_IFNAME := interface of this node's Ray IP.

    An explicit GLOO_SOCKET_IFNAME (from --gloo-ifname or the environment) wins.
    """
    if os.environ.get("GLOO_SOCKET_IFNAME"):
        return
    try:
        from ray.util import get_node_ip_address

        name = interface_for_ip(get_node_ip_address())
    except Exception:  # noqa: BLE001 - a failing setup hook would kill the worker; Gloo's default stays
        return
    if name:
        os.environ["GLOO_SOCKET_IFNAME"] = name


def runtime_env(ifname: str | None) -> dict:
    """runtime_env for a Ray Train job: a fixed interface name, or per-node detection."""
    ifname = ifname or os.environ.get("GLOO_SOCKET_IFNAME")
    if ifname:
        return {"env_vars": {"GLOO_SOCKET_IFNAME": ifname}}
    return {"worker_process_setup_hook": SETUP_HOOK}
