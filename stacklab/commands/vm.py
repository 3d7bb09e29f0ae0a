"""`stacklab vm up|status|exec|power-off|power-on|down`: real VMs (QEMU + cloud-init) forming a Docker Swarm."""

from __future__ import annotations

import argparse
import json
import sys

from stacklab.commands.common import positive_int
from stacklab.core.results import markdown_table
from stacklab.vm import cluster


def _up(args: argparse.Namespace) -> int:
    state = cluster.up(nodes=args.nodes, cpus=args.cpus, memory=args.memory, accel=args.accel)
    print(f"VM swarm up: {len(state['vms'])} VMs ({state['accel']}), manager {state['manager']}")
    print(f"use it:  export DOCKER_HOST={state['docker_host']}   (or: stacklab vm exec 1 -- docker node ls)")
    return 0


def _status(args: argparse.Namespace) -> int:
    info = cluster.status()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0 if info["up"] else 1
    if not info.get("vms"):
        print("no VMs are up (stacklab vm up --nodes 3)")
        return 1
    print(f"manager: {info['manager']}  accelerator: {info['accel']}  image: {info['image']}")
    print(f"docker:  export DOCKER_HOST={info['docker_host']}" if info["docker_host"]
          else "docker:  (not ready: the Swarm has not formed)")
    print(f"state:   {info['state_file']}")
    print(markdown_table(info["vms"]), end="")
    if info["swarm"]:
        rows = [{**r, "labels": ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items()))}
                for r in info["swarm"]]
        print(markdown_table(rows), end="")
    return 0 if info["up"] else 1


def _exec(args: argparse.Namespace) -> int:
    code, out, err = cluster.vm_exec(args.n, args.cmd, timeout=args.timeout)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def _power_off(args: argparse.Namespace) -> int:
    cluster.power_off(args.n)
    print(f"{cluster.vm_name(args.n)} powered off (its QEMU killed: no shutdown inside)")
    return 0


def _power_on(args: argparse.Namespace) -> int:
    seconds = cluster.power_on(args.n)
    print(f"{cluster.vm_name(args.n)} booted from its own disk; every node Ready after {seconds:.0f} s")
    return 0


def _down(args: argparse.Namespace) -> int:
    removed = cluster.down()
    print("\n".join(removed) if removed else "no VMs were up")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vm", help="real VMs from cloud-cfg.txt forming a Docker Swarm")
    sub = parser.add_subparsers(dest="vm_command", required=True)
    up = sub.add_parser("up", help="build/boot the VMs, wait for a labelled Swarm")
    up.add_argument("--nodes", type=positive_int, default=3)
    up.add_argument("--cpus", type=positive_int, default=1, help="vCPUs per VM")
    up.add_argument("--memory", default="3G", help="memory per VM (e.g. 2G, 3072M)")
    up.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                    help="auto: KVM if it boots the VM kernel, else TCG emulation")
    up.set_defaults(func=_up)
    st = sub.add_parser("status", help="VMs, manager address, DOCKER_HOST, Swarm nodes")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.set_defaults(func=_status)
    ex = sub.add_parser("exec", help="run a command in VM N as root (guest agent)")
    ex.add_argument("n", type=positive_int, help="VM number, 1 = manager")
    ex.add_argument("--timeout", type=float, default=600)
    # nargs="+" after `--`: the command's own options never reach argparse
    ex.add_argument("cmd", nargs="+", metavar="-- CMD", help="the command and its arguments")
    ex.set_defaults(func=_exec)
    off = sub.add_parser("power-off", help="cut VM N's power (a crash: nothing shuts down inside)")
    off.add_argument("n", type=positive_int, help="VM number, 1 = manager")
    off.set_defaults(func=_power_off)
    on = sub.add_parser("power-on", help="boot VM N again from its disk; waits until the Swarm lists it Ready")
    on.add_argument("n", type=positive_int, help="VM number, 1 = manager")
    on.set_defaults(func=_power_on)
    sub.add_parser("down", help="remove exactly what `up` made").set_defaults(func=_down)
