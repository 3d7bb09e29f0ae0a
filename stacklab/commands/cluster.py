"""`stacklab cluster up|down|status`: a local multi-node Docker Swarm on this machine."""

from __future__ import annotations

import argparse

from stacklab.cluster import local
from stacklab.core.results import markdown_table


def _up(args: argparse.Namespace) -> int:
    state = local.up(nodes=args.nodes, subnet=args.subnet, base=args.base,
                     images=not args.no_images)
    print(f"local swarm up: {len(state['nodes'])} nodes, manager {state['nodes'][0]['socket']}")
    print(f"use it:  docker -H {state['nodes'][0]['socket']} node ls")
    return 0


def _down(args: argparse.Namespace) -> int:
    removed = local.down()
    print("\n".join(removed) if removed else "no local cluster was up")
    return 0


def _status(args: argparse.Namespace) -> int:
    info = local.status()
    if not info["up"] and not info.get("nodes"):
        print("no local cluster is up (stacklab cluster up --nodes 3)")
        return 1
    print(f"image: {info.get('image')}")
    print(markdown_table(info["nodes"]), end="")
    print(info.get("swarm", ""), end="")
    return 0 if info["up"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="local multi-node Docker Swarm (netns + dockerd per node)")
    sub = parser.add_subparsers(dest="cluster_command", required=True)
    up = sub.add_parser("up", help="create the nodes, form the Swarm, run its registry, push the images")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--subnet", default=local.DEFAULT_SUBNET,
                    help="node addresses (default: a documentation range, never routed)")
    up.add_argument("--base", choices=["local", "upstream"], default="local",
                    help="image base: local debootstrap (no registry) or python:3.11-slim")
    up.add_argument("--no-images", action="store_true", help="no registry, no role images")
    up.set_defaults(func=_up)
    sub.add_parser("down", help="remove exactly what `up` created").set_defaults(func=_down)
    sub.add_parser("status", help="nodes, daemons, swarm membership").set_defaults(func=_status)
