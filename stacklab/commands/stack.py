"""`stacklab stack deploy|rm|ps <part>`: the parts' Swarm stacks."""

from __future__ import annotations

import argparse

from stacklab.cluster import deploy
from stacklab.parts import ray_entries, stacks


def _deploy(args: argparse.Namespace) -> int:
    deploy.deploy(args.part)
    print(f"deployed stack {args.part}; follow it with `stacklab stack ps {args.part}`")
    if args.wait and args.part in ray_entries():
        ips = deploy.wait_ray_nodes(args.part, args.wait, timeout=args.timeout)
        print(f"{len(ips)} Ray nodes alive: {', '.join(ips)}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    gone = deploy.remove(args.part, volumes=args.volumes)
    if args.volumes:
        print(f"removed stack {args.part} and its volumes ({', '.join(gone) or 'none'}); secrets are kept")
    else:
        print(f"removed stack {args.part} (named volumes and secrets are kept; --volumes drops the volumes)")
    return 0


def _ps(args: argparse.Namespace) -> int:
    print(deploy.ps(args.part))
    return 0


def _check(args: argparse.Namespace) -> int:
    from stacklab.cluster.check import check_stacks

    rows = check_stacks()
    for row in rows:
        print(f"{row['part']:12} {row['files']:55} {'ok' if row['valid'] else row['error']}")
    return 0 if all(r["valid"] for r in rows) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stack", help="deploy, remove, list the parts' Swarm stacks")
    sub = parser.add_subparsers(dest="stack_command", required=True)
    dep = sub.add_parser("deploy", help="docker stack deploy a part (creates its secrets)")
    dep.add_argument("part", help=", ".join(stacks()))
    dep.add_argument("--wait", type=int, default=0, metavar="N",
                     help="Ray parts: wait until N Ray nodes (head included) are alive")
    dep.add_argument("--timeout", type=float, default=300)
    dep.set_defaults(func=_deploy)
    rm = sub.add_parser("rm", help="docker stack rm a part and wait until it is gone")
    rm.add_argument("part")
    rm.add_argument("--volumes", action="store_true",
                    help="also delete the stack's named volumes on every node (its data: PostgreSQL, S3)")
    rm.set_defaults(func=_rm)
    ps = sub.add_parser("ps", help="tasks of a part (or all stacks)")
    ps.add_argument("part", nargs="?")
    ps.set_defaults(func=_ps)
    sub.add_parser("check", help="validate every part's stack files (no daemon needed)"
                   ).set_defaults(func=_check)
