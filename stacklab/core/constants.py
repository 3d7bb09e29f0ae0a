"""Ports, paths and secrets that a stack file and Python both use: defined here once.

The stack files (swarm/ray-cluster.yml, federated/docker-stack.yml,
tuning/compose.yaml, <part>/docker-stack.yml) cannot import Python, so they
repeat these values; tests/unit/test_stack_constants.py reads every stack file
and fails when one of them drifts from this module.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

# -- Ray stacks (swarm/ray-cluster.yml) ------------------------------------
RAY_GCS_PORT = 6379        # the head's healthcheck connects to it
RAY_DASHBOARD_PORT = 8265  # job API: `ray job submit --address http://127.0.0.1:8265` in the head
RESULTS_MOUNT = "/results"  # the `results` volume in the head and the tuning baseline
S3_PORT = 8333             # SeaweedFS's S3 endpoint in every stack (stacklab.cluster.s3node)
RAY_BUCKET = "stacklab"    # the Ray stacks' storage_path bucket: s3://stacklab/<part>

# -- federated stack (federated/docker-stack.yml) --------------------------
FL_SWARM_STATE_DIR = "/var/lib/stacklab-fl"  # each FL container's state dir; postgres/ holds the volume
FL_SWARM_POSTGRES_PORT = 5432                 # PostgreSQL's own port inside the stack
CONTROLLER_PORT = 8092                        # FEDn's REST API (its fixed default)
COMBINER_PORT = 12080                         # FEDn's combiner gRPC (its fixed default)
DASHBOARD_PORT = 8095
FEDN_BUCKETS = ("fedn-models", "fedn-context", "fedn-prediction")  # FEDn's S3 buckets

# -- secrets ---------------------------------------------------------------
SECRETS_DIR = "/run/secrets"
# file name (the key inside containers and in the local state dir's secrets.yaml)
# -> (Docker secret name in the stacks, generator of a fresh value). One generator
# per secret, whether `stacklab stack deploy` or `stacklab fl up` makes it.
SECRETS: dict[str, tuple[str, Callable[[], str]]] = {
    "ray_token": ("stacklab_ray_token", lambda: secrets.token_hex(32)),
    "s3_access_key": ("stacklab_s3_access_key", lambda: "stacklab" + secrets.token_hex(8)),
    "s3_secret_key": ("stacklab_s3_secret_key", lambda: secrets.token_urlsafe(30)),
    "postgres_password": ("stacklab_fl_postgres_password", lambda: secrets.token_urlsafe(24)),
    "jwt_secret": ("stacklab_fl_jwt_secret", lambda: secrets.token_urlsafe(48)),
}
# The secrets every federated container mounts (federated/docker-stack.yml x-fl-secrets).
FL_SECRETS = ("postgres_password", "s3_access_key", "s3_secret_key", "jwt_secret")


def docker_secret_name(file_name: str) -> str:
    return SECRETS[file_name][0]


def new_secret(file_name: str) -> str:
    """A fresh random value for one of SECRETS."""
    return SECRETS[file_name][1]()
