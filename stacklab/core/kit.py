"""Where the kit's files are, from a checkout or from an installed wheel.

The wheel ships what commands read at run time as package data (pyproject.toml
maps them in without moving them): the report's templates (docs/templates ->
stacklab.report.templates) and the FEDn compute package (federated/client ->
stacklab.federated.compute_package). The deployment artifacts (stack files,
docker/, cloud-cfg.txt, swarm/node-bootstrap.sh) are not shipped: the cluster,
stack, images and vm commands work on a checkout of the kit, found as
$STACKLAB_KIT, else the checkout around the current directory, else the one
the package was imported from (docs/architecture.md, "Installed from a wheel").
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Files only a checkout of the kit holds together.
MARKERS = ("pyproject.toml", "swarm/node-bootstrap.sh")


def _is_checkout(path: Path) -> bool:
    return all((path / marker).is_file() for marker in MARKERS)


def root() -> Path:
    """The kit's checkout; the current directory when none is found (a wheel used elsewhere)."""
    if os.environ.get("STACKLAB_KIT"):
        return Path(os.environ["STACKLAB_KIT"]).resolve()
    package = Path(__file__).resolve().parent.parent  # the stacklab package directory
    for start in (Path.cwd().resolve(), package):
        for candidate in (start, *start.parents):
            if _is_checkout(candidate):
                return candidate
    return Path.cwd()


def shipped(package: str, checkout_dir: str) -> Path:
    """A data directory the wheel ships as ``package``; in a plain checkout, ``checkout_dir`` in it."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return root() / checkout_dir
