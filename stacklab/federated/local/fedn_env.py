"""FEDn's settings file and environment for each role, from the kit's config and secrets.

Shared by the local processes and the Swarm containers (one role each).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from stacklab.core.constants import FEDN_BUCKETS
from stacklab.federated.config import FLConfig
from stacklab.federated.secrets import load_secrets, write_private

POSTGRES_DB = "fedn_db"  # fixed by fedn's dbconnection


# -- FEDn's own settings file ---------------------------------------------------

def fedn_settings(cfg: FLConfig, sec: dict[str, str]) -> dict:
    """The YAML FEDn reads via STATESTORE_CONFIG / MODELSTORAGE_CONFIG."""
    return {
        "network_id": cfg.network_id,
        "controller": {"host": cfg.host, "port": cfg.controller_port, "debug": False},
        "statestore": {
            "type": "PostgreSQL",
            "postgres_config": {
                "username": cfg.postgres_user,
                "password": sec["postgres_password"],
                "host": cfg.postgres_host,
                "port": cfg.postgres_port,
            },
        },
        "storage": {
            "storage_type": "BOTO3",
            "storage_config": {
                # BOTO3 reads storage_endpoint; upstream templates' storage_endpoint_url is ignored.
                "storage_endpoint": s3_endpoint(cfg),
                "storage_access_key": sec["s3_access_key"],
                "storage_secret_key": sec["s3_secret_key"],
                "storage_bucket": FEDN_BUCKETS[0],
                "context_bucket": FEDN_BUCKETS[1],
                "prediction_bucket": FEDN_BUCKETS[2],
                "storage_secure_mode": s3_endpoint(cfg).startswith("https://"),
                "storage_verify_ssl": s3_endpoint(cfg).startswith("https://"),
            },
        },
    }


def s3_endpoint(cfg: FLConfig) -> str:
    return cfg.s3_endpoint or f"http://{cfg.host}:{cfg.s3_port}"


def settings_path(cfg: FLConfig) -> Path:
    return cfg.path("fedn", "settings.yaml")


def write_fedn_settings(cfg: FLConfig, sec: dict[str, str]) -> Path:
    return write_private(settings_path(cfg), yaml.safe_dump(fedn_settings(cfg, sec), sort_keys=False))


def fedn_env(cfg: FLConfig, role: str, sec: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a FEDn process: its settings, its own dirs, our venv first on PATH."""
    home = cfg.path("home", role)
    home.mkdir(parents=True, exist_ok=True)  # gunicorn and fedn write ~/.gunicorn, ~/.fedn
    env = {
        "STATESTORE_CONFIG": str(settings_path(cfg)),
        "MODELSTORAGE_CONFIG": str(settings_path(cfg)),
        "HOME": str(home),
        "FEDN_COMPUTE_PACKAGE_DIR": str(cfg.path("controller", "packages")) + "/",
        "TMPDIR": str(make_dir(cfg.path("tmp", role))),
        "FEDN_MODEL_DIR": str(make_dir(cfg.path("tmp", role, "models"))),  # default /tmp/models, shared
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "STACKLAB_FL_STATE": str(cfg.path()),
        "FEDN_CONNECT_API_SECURE": "false",
    }
    if cfg.auth:
        sec = sec or load_secrets(cfg)
        env["FEDN_JWT_SECRET_KEY"] = sec["jwt_secret"]
    return env


def make_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
