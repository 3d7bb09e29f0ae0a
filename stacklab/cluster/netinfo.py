"""Which address and interface a container talks to its peers on (no iproute2 needed)."""

from __future__ import annotations

import fcntl
import socket
import struct
import time

from stacklab.core.errors import UserError

SIOCGIFADDR = 0x8915


def resolve(name: str, timeout: float = 300) -> str:
    """IPv4 of a service name, waiting for Swarm's DNS to know it (dnsrr: a task IP)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.gethostbyname(name)
        except OSError:
            if time.monotonic() > deadline:
                raise UserError(f"cannot resolve {name!r} after {timeout:.0f} s: is that "
                                "service running on the same overlay network?") from None
            time.sleep(0.3)


def source_ip_towards(ip: str) -> str:
    """The local address the kernel would use to reach ip (UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((ip, 9))
        return sock.getsockname()[0]


def own_ip() -> str:
    """This container's address on its (single) overlay network, as Docker's /etc/hosts has it."""
    return socket.gethostbyname(socket.gethostname())


def interface_of(ip: str) -> str | None:
    """Name of the interface carrying ip (Gloo needs it: GLOO_SOCKET_IFNAME)."""
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                raw = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
        if socket.inet_ntoa(raw[20:24]) == ip:
            return name
    return None


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False
