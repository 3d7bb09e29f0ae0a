"""`stacklab images build`: the kit image, offline, on every node that needs it."""

from __future__ import annotations

import argparse

from stacklab.cluster import images, local


def _build(args: argparse.Namespace) -> int:
    state = local.load_state()
    hosts: list[str | None] = local.hosts() if state and state.get("ready") else [None]
    tag = images.build(hosts, base=args.base)
    size = images.image_size(hosts[0], tag)
    print(f"{tag} ({size / 1e9:.2f} GB) on {len(hosts)} daemon(s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("images", help="build the kit's Docker image")
    sub = parser.add_subparsers(dest="images_command", required=True)
    build = sub.add_parser("build", help="build (cached) and load into every local node")
    build.add_argument("--base", choices=["local", "upstream"], default="local",
                       help="local: a debootstrap Debian base, no registry; "
                            "upstream: python:3.11-slim-bookworm from Docker Hub")
    build.set_defaults(func=_build)
