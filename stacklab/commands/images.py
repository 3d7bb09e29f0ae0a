"""`stacklab images build|push|registry`: the role images, offline, into a registry."""

from __future__ import annotations

import argparse
import os
import time

from stacklab.cluster import deploy, images, local, registry
from stacklab.core.errors import UserError
from stacklab.vm import image


def _build(args: argparse.Namespace) -> int:
    host = deploy.manager()
    tag = images.build(host, base=args.base)
    for role in images.ROLES:
        ref = images.role_image(role, tag)
        print(f"{ref}  {images.image_size(host, ref) / 1e9:.2f} GB")
    return 0


def _push(args: argparse.Namespace) -> int:
    address = args.registry or registry.address()
    if not address:
        raise UserError("no registry: pass --registry HOST:PORT (or set STACKLAB_REGISTRY), "
                        "or run `stacklab cluster up`")
    host = deploy.manager()
    tag = registry.build_and_push(host, args.base, address)
    state = local.load_state()
    if state and state.get("ready") and state.get("registry") == address:
        state["tag"] = tag
        local.save_state(state)
    print(f"pushed stacklab-{{{','.join(images.ROLES)}}}:{tag} to {address}")
    print(f"deploy with:  STACKLAB_REGISTRY={address} STACKLAB_TAG={tag} stacklab stack deploy PART")
    return 0


def _copy(args: argparse.Namespace) -> int:
    from stacklab.cluster import image_copy as copy

    roles = tuple(args.roles.split(",")) if args.roles else images.ROLES
    unknown = sorted(set(roles) - set(images.ROLES))
    if unknown:
        raise UserError(f"--roles {','.join(unknown)}: not a role image "
                        f"(roles: {','.join(images.ROLES)})")
    tag = args.tag or copy.cached_tag()
    seconds = copy.copy_roles(args.to, tag, roles)
    print(f"copied stacklab-{{{','.join(roles)}}}:{tag} to {args.to} in {seconds:.0f} s")
    print(f"deploy with:  STACKLAB_REGISTRY={args.to} STACKLAB_TAG={tag} stacklab stack deploy PART")
    return 0


def _prefetch(args: argparse.Namespace) -> int:
    """Everything the images (and VM disk) are built from that needs no Docker daemon.

    Each entry is cached under a lock, so this can run beside a test session or a
    `cluster up` that needs the same entries: whoever comes second waits, then reuses."""
    start = time.monotonic()
    made = [f"wheels {images.wheelhouse()}"]
    made += [f"{flavour} {images.local_base_tar(flavour)}" for flavour in images.DEBOOTSTRAP_PACKAGES]
    made.append(f"registry package {registry.registry_package()}")
    if args.vm:
        made.append(f"VM disk {image.ensure()['disk']}")
    print("\n".join(made))
    print(f"prefetched in {time.monotonic() - start:.0f} s")
    return 0


def _registry(args: argparse.Namespace) -> int:
    state = local.load_state()
    # the local cluster's manager (not $STACKLAB_DOCKER_HOST's): storage in the host's cache
    local_cluster = bool(state and state.get("ready")) and not os.environ.get("STACKLAB_DOCKER_HOST")
    registry.up(deploy.manager(), args.base, data_dir=registry.LOCAL_DATA if local_cluster else None)
    where = state["registry"] if local_cluster else f"<manager address>:{registry.PORT}"
    print(f"registry up: {where} (stack {registry.STACK})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("images", help="the role images: build, registry, push")
    sub = parser.add_subparsers(dest="images_command", required=True)
    base_help = ("local: a debootstrap Debian base, no registry needed; "
                 "upstream: python:3.11-slim-bookworm from Docker Hub")
    build = sub.add_parser("build", help="build the role images (cached) on the manager's daemon")
    build.add_argument("--base", choices=["local", "upstream"], default="local", help=base_help)
    build.set_defaults(func=_build)
    push = sub.add_parser("push", help="build and push the role images; stacks then pull them")
    push.add_argument("--registry", help="HOST:PORT[/PATH] of the registry (default: "
                                         "$STACKLAB_REGISTRY, else the local cluster's)")
    push.add_argument("--base", choices=["local", "upstream"], default="local", help=base_help)
    push.set_defaults(func=_push)
    cp = sub.add_parser("copy", help="copy the role images from this machine's registry cache "
                                     "into another Swarm's registry (e.g. the VMs')")
    cp.add_argument("--to", required=True, help="HOST:PORT of the destination registry")
    cp.add_argument("--tag", help="image tag (default: the one the local cluster pushed)")
    cp.add_argument("--roles", help=f"comma-separated subset of {','.join(images.ROLES)}")
    cp.set_defaults(func=_copy)
    pre = sub.add_parser("prefetch", help="make the cached inputs of the images (wheels, "
                                          "Debian bases) with no daemon; --vm: the VM disk too")
    pre.add_argument("--vm", action="store_true", help="also build the VM disk image")
    pre.set_defaults(func=_prefetch)
    reg = sub.add_parser("registry", help="deploy the registry stack on the Swarm manager")
    reg.add_argument("--base", choices=["local", "upstream"], default="local", help=base_help)
    reg.set_defaults(func=_registry)
