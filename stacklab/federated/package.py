"""The compute package: check its fedn.yaml, tar it like `fedn package create`, upload it."""

from __future__ import annotations

import fnmatch
import os
import tarfile
from pathlib import Path

import yaml

from stacklab.core.errors import UserError

REQUIRED_ENTRY_POINTS = ("train", "validate")


def check_package_dir(package_dir: str | Path) -> dict:
    """The parsed fedn.yaml; a UserError naming what is missing otherwise."""
    package_dir = Path(package_dir)
    manifest = package_dir / "fedn.yaml"
    if not manifest.exists():
        raise UserError(f"compute package {package_dir} has no fedn.yaml: add one with entry_points (see federated/client)")
    try:
        spec = yaml.safe_load(manifest.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{manifest} is not valid YAML ({str(exc).splitlines()[0]}): fix it") from None
    entry_points = spec.get("entry_points") if isinstance(spec, dict) else None
    missing = [name for name in REQUIRED_ENTRY_POINTS
               if not isinstance(entry_points, dict) or not (entry_points.get(name) or {}).get("command")]
    if missing:
        raise UserError(f"{manifest} declares no entry point(s) {', '.join(missing)}: "
                        "add entry_points: {train: {command: python train.py}, validate: {...}}")
    if spec.get("python_env"):
        raise UserError(f"{manifest} declares python_env: every client would pip-install it from the internet; "
                        "remove python_env (clients use the kit's .venv)")
    return spec


def build_package(package_dir: str | Path, out: str | Path) -> Path:
    """A .tgz of package_dir (minus .fednignore patterns), files at the archive root."""
    package_dir, out = Path(package_dir), Path(out)
    check_package_dir(package_dir)
    ignore_file = package_dir / ".fednignore"
    patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")] if ignore_file.exists() else []

    def ignored(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(os.path.basename(rel), p) for p in patterns)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for root, dirs, files in os.walk(package_dir):
            dirs[:] = sorted(d for d in dirs if not ignored(os.path.relpath(os.path.join(root, d), package_dir)))
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(root, name), package_dir)
                if not ignored(rel):
                    tar.add(os.path.join(root, name), arcname=rel)
    return out


def upload_package(api, path: Path, name: str, helper: str = "numpyhelper") -> None:
    with open(path, "rb") as handle:
        api.post("packages/", files={"file": (path.name, handle)},
                 data={"helper": helper, "name": name, "description": "stacklab MnistCNN compute package"})
