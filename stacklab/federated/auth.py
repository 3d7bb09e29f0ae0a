"""FEDn JWT auth: with `auth: true` the controller and combiner get FEDN_JWT_SECRET_KEY
(generated at `fl up`, kept in secrets.yaml) and every caller a token with a role claim:
"admin" for the REST API (session runner, dashboard), "client" for clients
(REST /clients/add + package download, and every gRPC call to the combiner).
"""

from __future__ import annotations

import time

import jwt

from stacklab.federated.config import FLConfig
from stacklab.federated.secrets import load_secrets

ALGORITHM = "HS256"  # FEDN_JWT_ALGORITHM's default
TOKEN_DAYS = 30


def make_token(secret: str, role: str, days: float = TOKEN_DAYS) -> str:
    now = int(time.time())
    return jwt.encode({"role": role, "iat": now, "exp": now + int(days * 86400)}, secret, algorithm=ALGORITHM)


def admin_token(cfg: FLConfig) -> str:
    return make_token(load_secrets(cfg)["jwt_secret"], "admin")


def client_token(cfg: FLConfig) -> str:
    return make_token(load_secrets(cfg)["jwt_secret"], "client")
