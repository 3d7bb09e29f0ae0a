"""`stacklab vm up|status|exec|down`: N VMs from cloud-cfg.txt forming a Docker Swarm.

The state file is written before anything is created (namespace, VM
directories, QEMU processes), so `down` removes exactly what `up` made, also
after a failed or interrupted `up`. Readiness is waited for on state, never
on sleeps: the guest agent answers, `cloud-init status` says done, and the
manager's `docker node ls` shows every node Ready with its labels.

Docker from the host: the manager's dockerd also listens on
tcp://MANAGER:2375 on the private subnet, firewalled to the host's veth
address only (no TLS: nothing but this machine can reach that subnet).
`vm status` prints it as DOCKER_HOST; on a cloud use ssh:// instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from stacklab.cluster.local import node_ip, node_labels
from stacklab.cluster.shell import log, need_tool, run
from stacklab.core.errors import UserError
from stacklab.core.results import boot_id, from_earlier_boot, read_state, write_json
from stacklab.vm import image, machine, network, seed
from stacklab.vm.agent import Agent, AgentTimeout

STATE_DIR = Path(os.environ.get("STACKLAB_VM_DIR", "/var/lib/stacklab-vm"))
STATE_FILE = STATE_DIR / "state.json"
DOCKER_API_PORT = 2375
# generous: 3 VMs under TCG on 2 shared cores took 6-8 min to a Ready Swarm
AGENT_TIMEOUT, CLOUD_INIT_TIMEOUT, SWARM_TIMEOUT = 900, 1500, 900
MEMORY = re.compile(r"^(\d+)([MG])$")


NAME_PREFIX = "stacklab-vm"


def vm_name(index: int) -> str:
    return f"{NAME_PREFIX}{index}"


def load_state() -> dict[str, Any] | None:
    return read_state(STATE_FILE)


def _save(state: dict[str, Any]) -> None:
    write_json(STATE_FILE, state)


def memory_mib(text: str) -> int:
    match = MEMORY.match(text.strip().upper())
    if not match:
        raise UserError(f"--memory {text!r}: give a size like 3G or 2048M")
    value = int(match[1]) * (1024 if match[2] == "G" else 1)
    if value < 1024:
        raise UserError(f"--memory {text}: a Swarm node needs at least 1G")
    return value


def node_env(index: int, count: int, subnet: str, accel: str) -> dict[str, str]:
    """node.env of VM `index`: the values cloud-cfg.txt's step 1 asks for."""
    manager = index == 1
    labels = " ".join(f"{vm_name(i)}=" + ",".join(f"{k}={v}" for k, v in node_labels(i).items())
                      for i in range(1, count + 1))
    return {"ROLE": "manager" if manager else "worker", "NODE_IP": node_ip(subnet, index),
            "MANAGER_IP": node_ip(subnet, 1), "CLUSTER_SUBNET": subnet,
            "NODE_LABELS": labels if manager else "", "OFFLINE": "yes",
            "INSECURE_REGISTRIES": subnet,
            "DOCKER_API_FROM": network.host_ip(subnet) if manager else "",
            # emulated VMs miss 5 s heartbeats while another VM boots
            "DISPATCHER_HEARTBEAT": "20s" if accel == "tcg" else "5s"}


def docker_host(state: dict[str, Any]) -> str:
    return f"tcp://{state['manager']}:{DOCKER_API_PORT}"


# ---------------------------------------------------------------- up
def _preflight(count: int, cpus: int, mem: int) -> None:
    if os.geteuid() != 0:
        raise UserError("stacklab vm needs root (network namespace, taps): rerun as root or with sudo")
    if not 1 <= count <= 20 or cpus < 1:
        raise UserError(f"--nodes {count} --cpus {cpus}: use 1-20 nodes of at least 1 CPU")
    for tool in ("ip", machine.QEMU, "qemu-img", "genisoimage", "ssh-keygen", "docker"):
        need_tool(tool, "run scripts/system-deps.sh")
    available = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemAvailable:"))) // 1024
    if count * mem > available:
        raise UserError(f"{count} VMs x {mem} MiB > {available} MiB available: "
                        "use fewer --nodes or a smaller --memory")


def up(nodes: int = 3, cpus: int = 1, memory: str = "3G", accel: str = "auto") -> dict[str, Any]:
    """Boot the VMs and wait for a labelled Swarm (or return the running one)."""
    mem = memory_mib(memory)
    _preflight(nodes, cpus, mem)
    state = load_state()
    if state and from_earlier_boot(state):
        log("the recorded VMs ran before this machine booted: removing their leftovers "
            "and booting new ones")
        down()
        state = None
    if state and state.get("ready"):
        if all(machine.is_ours(v["pid"], v["dir"]) for v in state["vms"]):
            if len(state["vms"]) != nodes:
                raise UserError(f"{len(state['vms'])} VMs are up: run `stacklab vm down` first")
            log("the VMs are already up")
            return state
        raise UserError("a VM of the recorded Swarm is gone: run `stacklab vm down`, then up again")
    if state:
        raise UserError(f"a half-made VM cluster is recorded in {STATE_FILE}: "
                        "run `stacklab vm down` first")
    start = time.monotonic()
    cached = image.is_cached()
    img = image.ensure()
    timings = {"image_seconds": round(time.monotonic() - start, 1), "image_cached": cached,
               "load_avg_1min_at_start": round(os.getloadavg()[0], 2)}
    subnet = network.SUBNET
    state = {"boot_id": boot_id(), "run": uuid.uuid4().hex[:8], "subnet": subnet, "manager": node_ip(subnet, 1),
             "image": img["key"], "cpus": cpus, "memory_mib": mem, "vms": [],
             "dirs": [str(STATE_DIR)], "ready": False, "timings": timings}
    _save(state)
    try:
        _boot(state, img, nodes, cpus, mem, accel)
        _wait(state)
    except BaseException:
        log("vm up failed; `stacklab vm down` removes what was made")
        raise
    timings["up_seconds"] = round(time.monotonic() - start, 1)
    # on shared cores other work stretches emulated boots: keep the load beside the times
    timings["load_avg_5min_at_end"] = round(os.getloadavg()[1], 2)
    state["ready"], state["docker_host"] = True, docker_host(state)
    _save(state)
    log(f"{nodes} VMs form a Swarm in {timings['up_seconds']:.0f} s ({state['accel']})")
    return state


def _boot(state: dict[str, Any], img: dict[str, Any], count: int, cpus: int, mem: int,
          wanted: str) -> None:
    network.create(state, lambda: _save(state), count)
    keys = STATE_DIR / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    accel, line = machine.choose_accel(img["kernel"], keys, wanted)
    log(line)
    state["accel"], state["accel_reason"] = accel, line
    # one join key per `up`: rotated into uselessness once every worker joined
    private, public = seed.keypair(keys, "swarm_join")
    kit = seed.kit_tarball(keys / seed.KIT_NAME)
    template = seed.CLOUD_CFG.read_text()
    prefix = state["subnet"].split("/")[1]
    t0 = time.monotonic()
    for index in range(1, count + 1):
        name = vm_name(index)
        directory = STATE_DIR / name
        vm = {"name": name, "ip": node_ip(state["subnet"], index), "mac": network.vm_mac(index),
              "tap": f"tap{index}", "dir": str(directory), "qga": str(directory / "qga.sock"),
              "console": str(directory / "console.log"), "pid": None,
              "labels": node_labels(index)}
        state["vms"].append(vm)
        _save(state)
        directory.mkdir(parents=True, exist_ok=True)
        env = node_env(index, count, state["subnet"], accel)
        user_data = seed.render(template, env, public, private)
        seed.write_iso(directory, user_data, name, f"{name}-{state['run']}",
                       seed.network_config(vm["mac"], f"{vm['ip']}/{prefix}"), kit)
        vm["pid"] = machine.start(vm, img, accel, cpus, f"{mem}M")
        _save(state)
    state["timings"]["boot_started_seconds"] = round(time.monotonic() - t0, 1)
    state["t_boot"] = time.time()


def _alive_or_raise(vm: dict[str, Any]) -> None:
    if vm.get("powered_off"):
        raise UserError(f"{vm['name']} is powered off: `stacklab vm power-on {vm['name'].removeprefix(NAME_PREFIX)}`")
    if not machine.is_ours(vm["pid"], vm["dir"]):
        qemu_log = Path(vm["dir"]) / "qemu.log"
        why = qemu_log.read_text(errors="replace").strip().splitlines()[-1:] if qemu_log.exists() else []
        raise UserError(f"QEMU of {vm['name']} exited ({why[0] if why else machine.console_tail(vm)}): "
                        f"see {vm['dir']}, then `stacklab vm down`")


def _wait_until(what: str, timeout: float, vms: list[dict[str, Any]], check) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for vm in vms:
            _alive_or_raise(vm)
        if check():
            return
        time.sleep(5)
    raise UserError(f"{what} not reached in {timeout:.0f} s (console: "
                    f"{machine.console_tail(vms[0])}): see {STATE_DIR}/*/console.log, "
                    "then `stacklab vm down`")


def cloud_init_errors(vm: dict[str, Any]) -> list[str] | None:
    """None while cloud-init runs, else its errors, from the file it writes when it
    has finished (cheap: `cloud-init status` needs a minute of emulated Python)."""
    try:
        code, text, _ = Agent(vm["qga"]).exec("cat /run/cloud-init/result.json", timeout=120)
    except AgentTimeout:
        return None
    return json.loads(text)["v1"].get("errors", []) if code == 0 else None


def _wait(state: dict[str, Any]) -> None:
    vms, timings = state["vms"], state["timings"]
    t0 = time.monotonic()
    pending = list(vms)

    def agents_up() -> bool:
        pending[:] = [vm for vm in pending if not Agent(vm["qga"]).ping(timeout=3)]
        return not pending

    _wait_until("guest agents answering", AGENT_TIMEOUT, vms, agents_up)
    timings["agents_seconds"] = round(time.monotonic() - t0, 1)
    log(f"{len(vms)} VMs booted (guest agents answer) after {timings['agents_seconds']:.0f} s")
    done: set[str] = set()

    def cloud_init_done() -> bool:
        for number, vm in enumerate(vms, 1):
            if vm["name"] not in done:
                errors = cloud_init_errors(vm)
                if errors:
                    raise UserError(f"cloud-init failed on {vm['name']}: {errors[0][:200]} (see "
                                    f"`stacklab vm exec {number} -- cat /var/log/cloud-init-output.log`)")
                if errors is not None:
                    done.add(vm["name"])
        return len(done) == len(vms)

    _wait_until("cloud-init done on every VM", CLOUD_INIT_TIMEOUT, vms, cloud_init_done)
    timings["cloud_init_seconds"] = round(time.monotonic() - t0, 1)
    log(f"cloud-init done on every VM after {timings['cloud_init_seconds']:.0f} s")
    _wait_until("every node Ready and labelled", SWARM_TIMEOUT, vms, lambda: swarm_ready(state))
    timings["swarm_ready_seconds"] = round(time.monotonic() - t0, 1)
    # the join key in the workers' seeds now only unlocks a dead token
    script = ("old=$(docker swarm join-token -q worker) && docker swarm join-token --rotate "
              "-q worker >/dev/null && [ \"$(docker swarm join-token -q worker)\" != \"$old\" ]")
    code, _, err = Agent(vms[0]["qga"]).exec(script)
    if code:
        raise UserError(f"rotating the Swarm join token failed: {err.strip() or 'unchanged'}")
    state["token_rotated"] = True
    run(["docker", "-H", docker_host(state), "info"], timeout=60)


def nodes(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The manager's view: hostname, status, availability, labels of each node."""
    fmt = "{{.Description.Hostname}}|{{.Status.State}}|{{.Spec.Availability}}|{{json .Spec.Labels}}"
    code, text, _ = Agent(state["vms"][0]["qga"]).exec(
        f"docker node inspect --format '{fmt}' $(docker node ls -q)", timeout=120)
    rows = []
    for line in text.splitlines() if code == 0 else []:
        host, status, avail, labels = line.split("|", 3)
        rows.append({"node": host, "status": status, "availability": avail,
                     "labels": json.loads(labels) or {}})
    return rows


def swarm_ready(state: dict[str, Any]) -> bool:
    try:
        rows = {r["node"]: r for r in nodes(state)}
    except AgentTimeout:
        return False
    for vm in state["vms"]:
        row = rows.get(vm["name"])
        if not row or row["status"] != "ready" or any(row["labels"].get(k) != v
                                                      for k, v in vm["labels"].items()):
            return False
    return True


# ---------------------------------------------------------------- use
def the_state() -> dict[str, Any]:
    state = load_state()
    if not state:
        raise UserError("no VMs are up: run `stacklab vm up --nodes 3`")
    return state


def _vm(state: dict[str, Any], index: int) -> dict[str, Any]:
    if not 1 <= index <= len(state["vms"]):
        raise UserError(f"no VM {index}: the VMs are 1..{len(state['vms'])}")
    return state["vms"][index - 1]


def vm_exec(index: int, cmd: list[str], timeout: float = 600) -> tuple[int, str, str]:
    vm = _vm(the_state(), index)
    _alive_or_raise(vm)
    try:
        return Agent(vm["qga"]).exec(shlex.join(cmd) if len(cmd) > 1 else cmd[0], timeout=timeout)
    except AgentTimeout:
        raise UserError(f"{vm['name']}'s guest agent does not answer (still booting?): "
                        "retry in a minute, or `stacklab vm status`") from None


def status() -> dict[str, Any]:
    state = load_state()
    if state is None:
        return {"up": False}
    rows = []
    for vm in state["vms"]:
        alive = machine.is_ours(vm["pid"], vm["dir"])
        rows.append({"vm": vm["name"], "ip": vm["ip"], "qemu": "running" if alive else "stopped",
                     "agent": "yes" if alive and Agent(vm["qga"]).ping(timeout=3) else "no",
                     "labels": ",".join(f"{k}={v}" for k, v in vm["labels"].items())})
    swarm = []
    if state.get("ready") and rows and rows[0]["agent"] == "yes":
        try:
            swarm = nodes(state)
        except AgentTimeout:
            pass
    return {"up": bool(state.get("ready")), "state_file": str(STATE_FILE),
            "manager": state.get("manager"), "docker_host": state.get("docker_host"),
            "accel": state.get("accel"), "image": state.get("image"), "vms": rows,
            "swarm": swarm, "timings": state.get("timings", {})}


# ---------------------------------------------------------------- faults
def power_off(index: int) -> None:
    """Pull VM `index`'s plug: its QEMU is killed, no shutdown inside (a host crash)."""
    state = the_state()
    vm = _vm(state, index)
    if vm.get("powered_off"):
        raise UserError(f"{vm['name']} is already powered off")
    pid = vm["pid"] if machine.is_ours(vm["pid"], vm["dir"]) else None
    if pid:
        os.kill(pid, signal.SIGKILL)
        while machine.is_ours(pid, vm["dir"]):
            time.sleep(0.1)
    vm["powered_off"] = True
    _save(state)


def power_on(index: int, timeout: float = SWARM_TIMEOUT) -> float:
    """Boot VM `index` again from its own disk; seconds until the Swarm lists it Ready."""
    state = the_state()
    vm = _vm(state, index)
    if not vm.get("powered_off"):
        raise UserError(f"{vm['name']} is not powered off (`stacklab vm power-off {index}` first)")
    img = image.ensure()
    start = time.monotonic()
    vm["pid"] = machine.start(vm, img, state["accel"], state["cpus"], f"{state['memory_mib']}M",
                              fresh_disk=False)
    vm["powered_off"] = False
    _save(state)
    _wait_until(f"{vm['name']} answering", AGENT_TIMEOUT, [vm], lambda: Agent(vm["qga"]).ping(timeout=3))
    _wait_until("every node Ready and labelled", timeout, state["vms"], lambda: swarm_ready(state))
    return round(time.monotonic() - start, 1)


# ---------------------------------------------------------------- down
def down() -> list[str]:
    """Remove exactly what `up` recorded; the cached image stays."""
    state = load_state()
    if state is None:
        return []
    removed = machine.stop(state.get("vms", []))
    removed += network.remove(state)
    for directory in state.get("dirs", []):
        if Path(directory).exists():
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(f"dir {directory}")
    STATE_FILE.unlink(missing_ok=True)
    return removed
