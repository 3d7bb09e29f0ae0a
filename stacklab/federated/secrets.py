"""Credentials generated at `fl up`, stored 0600 in the state dir, never in the repo."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from stacklab.core.constants import FL_SECRETS, new_secret
from stacklab.core.errors import UserError
from stacklab.federated.config import FLConfig

SECRETS_FILE = "secrets.yaml"


def secrets_path(cfg: FLConfig) -> Path:
    return cfg.path(SECRETS_FILE)


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def ensure_secrets(cfg: FLConfig) -> dict[str, str]:
    """Load the state dir's secrets, generating the missing ones (kept across restarts)."""
    path = secrets_path(cfg)
    current = load_secrets(cfg) if path.exists() else {}
    if cfg.s3_endpoint:  # an external S3 (MinIO...): its keys come from the environment
        for key, env in (("s3_access_key", "STACKLAB_S3_ACCESS_KEY"), ("s3_secret_key", "STACKLAB_S3_SECRET_KEY")):
            value = os.environ.get(env)
            if not value and key not in current:
                raise UserError(f"s3_endpoint={cfg.s3_endpoint} needs its credentials: set {env}")
            if value:
                current[key] = value
    changed = False
    for key in FL_SECRETS:
        if not current.get(key):
            current[key] = new_secret(key)
            changed = True
    if changed or cfg.s3_endpoint:
        write_private(path, yaml.safe_dump(current))
    return current


def load_secrets(cfg: FLConfig) -> dict[str, str]:
    path = secrets_path(cfg)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"no credentials at {path}: run `stacklab fl up` first") from None
    except PermissionError:
        raise UserError(f"cannot read {path}: run as the user that ran `stacklab fl up`") from None
    return {str(k): str(v) for k, v in data.items()}
