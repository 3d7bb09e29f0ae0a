"""Entry point of the Ray containers: `python -m stacklab.cluster.raynode head|worker|health`.

Ray on Swarm needs the task's real overlay address (never a VIP: the stacks
use endpoint_mode dnsrr), pinned ports (firewalls and documentation), CPU and
memory given explicitly (otherwise every node on a shared host claims the
whole machine), the cluster's auth token, and S3 credentials for the shared
storage_path. This module turns the container's environment and Docker
secrets into that `ray start` command and execs it.
"""

from __future__ import annotations

import os
import sys
import time

from stacklab.cluster import netinfo, secrets
from stacklab.core.constants import RAY_DASHBOARD_PORT, RAY_GCS_PORT

PORTS = {  # pinned: what a firewall between real VMs would have to allow
    "gcs": RAY_GCS_PORT, "dashboard": RAY_DASHBOARD_PORT, "client": 10001, "node_manager": 6380,
    "object_manager": 6381, "dashboard_agent_grpc": 6382, "runtime_env_agent": 6383,
    "metrics_export": 6384, "dashboard_agent_listen": 52365,
    "min_worker": 10002, "max_worker": 10199,
}


def _size(value: str) -> int:
    """'512m' / '2g' / bytes -> bytes."""
    value = value.strip().lower()
    scale = {"k": 2**10, "m": 2**20, "g": 2**30}.get(value[-1:], 1)
    return int(float(value.rstrip("kmg")) * scale)


def export_credentials(env: dict[str, str]) -> None:
    """Docker secrets -> the variables Ray (auth) and pyarrow/boto3 (S3) read."""
    if os.path.exists(env.get("RAY_AUTH_TOKEN_PATH", "/nonexistent")):
        env.setdefault("RAY_AUTH_MODE", "token")
    for var, name in (("AWS_ACCESS_KEY_ID", "s3_access_key"),
                      ("AWS_SECRET_ACCESS_KEY", "s3_secret_key")):
        value = secrets.read(name)
        if value:
            env[var] = value


def start_command(role: str, env: dict[str, str]) -> list[str]:
    """The `ray start` command line of a head or worker container."""
    head = env.get("RAY_HEAD_SERVICE", "head")
    if role == "head":
        ip = netinfo.own_ip()
    else:
        ip = netinfo.source_ip_towards(wait_for_head(head, timeout=600))
    iface = netinfo.interface_of(ip)
    if iface:
        env["GLOO_SOCKET_IFNAME"] = iface  # torch.distributed across nodes: use the overlay
    env["STACKLAB_NODE_IP"] = ip
    # through raystart: Ray's own `ray start`, with room for a slow node's raylet
    cmd = [sys.executable, "-m", "stacklab.cluster.raystart", "start", "--block",
           f"--node-ip-address={ip}",
           f"--num-cpus={env.get('STACKLAB_RAY_CPUS', '1')}",
           f"--node-manager-port={PORTS['node_manager']}",
           f"--object-manager-port={PORTS['object_manager']}",
           f"--dashboard-agent-grpc-port={PORTS['dashboard_agent_grpc']}",
           f"--dashboard-agent-listen-port={PORTS['dashboard_agent_listen']}",
           f"--runtime-env-agent-port={PORTS['runtime_env_agent']}",
           f"--metrics-export-port={PORTS['metrics_export']}",
           f"--min-worker-port={PORTS['min_worker']}", f"--max-worker-port={PORTS['max_worker']}",
           "--disable-usage-stats"]
    if env.get("STACKLAB_RAY_MEMORY"):
        cmd.append(f"--memory={_size(env['STACKLAB_RAY_MEMORY'])}")
    if env.get("STACKLAB_RAY_OBJECT_STORE"):
        cmd.append(f"--object-store-memory={_size(env['STACKLAB_RAY_OBJECT_STORE'])}")
    if role == "head":
        # The dashboard (and job API) binds inside the container; the stack
        # publishes no port. Reach it with `docker exec` or an SSH tunnel to
        # the manager (see swarm/README.md); token auth guards it as well.
        cmd += ["--head", f"--port={PORTS['gcs']}", "--dashboard-host=0.0.0.0",
                f"--dashboard-port={PORTS['dashboard']}",
                f"--ray-client-server-port={PORTS['client']}"]
    else:
        cmd.append(f"--address={head}:{PORTS['gcs']}")
    return cmd


def wait_for_head(name: str, timeout: float) -> str:
    """The address of the head task whose GCS answers, looked up again on every try.

    During a rolling update the name can still resolve to the head being
    replaced: waiting on that one address hung the new worker until its
    healthcheck killed it and Swarm rolled the update back.
    """
    deadline = time.monotonic() + timeout
    while True:
        ip = netinfo.resolve(name, timeout=max(deadline - time.monotonic(), 1))
        if netinfo.wait_port(ip, PORTS["gcs"], timeout=3):
            return ip
        if time.monotonic() > deadline:
            raise SystemExit(f"raynode: the Ray head {name} ({ip}) never opened port "
                             f"{PORTS['gcs']} in {timeout:.0f} s: check `stacklab stack ps`")
        time.sleep(1)


def healthy(env: dict[str, str]) -> bool:
    """Healthcheck: this node's Ray port answers (GCS on the head, raylet elsewhere)."""
    ip = netinfo.own_ip()
    port = PORTS["gcs"] if env.get("STACKLAB_RAY_ROLE") == "head" else PORTS["node_manager"]
    return netinfo.wait_port(ip, port, timeout=3)


def main(argv: list[str]) -> int:
    role = argv[0] if argv else ""
    env = dict(os.environ)
    if role == "health":
        return 0 if healthy(env) else 1
    if role not in ("head", "worker"):
        print("usage: python -m stacklab.cluster.raynode head|worker|health", file=sys.stderr)
        return 2
    export_credentials(env)
    env["STACKLAB_RAY_ROLE"] = role
    cmd = start_command(role, env)
    print("raynode: " + " ".join(cmd), file=sys.stderr, flush=True)
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
