"""A thin client for FEDn's REST API (/api/v1) that turns failures into one-line UserErrors.

We call REST directly rather than fedn.network.api.client.APIClient: two of
its calls are broken on 0.33.0 (start_session: compat bug 5; get_validations
filters on the wrong key and returns every session's validations).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from stacklab.core.errors import UserError


class FednApi:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    @classmethod
    def from_config(cls, cfg: Any, token: str | None = None) -> FednApi:
        if token is None and getattr(cfg, "auth", False):
            from stacklab.federated.auth import admin_token

            token = admin_token(cfg)
        return cls(cfg.api_url, token)

    # -- transport ---------------------------------------------------------------
    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), headers: dict | None = None,
                **kwargs: Any) -> Any:
        url = f"{self.url}/api/v1/{path.lstrip('/')}"
        try:
            response = requests.request(method, url, headers={**self.headers, **(headers or {})},
                                        timeout=self.timeout, **kwargs)
        except requests.ConnectionError:
            raise UserError(f"FEDn API at {self.url} is unreachable: start it with `stacklab fl up` or check --api-url") from None
        except requests.Timeout:
            raise UserError(f"FEDn API at {self.url} did not answer within {self.timeout:.0f} s: check `stacklab fl status`") from None
        if response.status_code in (401, 403):
            raise UserError(f"FEDn API at {self.url} refused the credentials (HTTP {response.status_code}): "
                            "use the token from the state dir (`stacklab fl up` writes it) or check FEDN_JWT_SECRET_KEY")
        if response.status_code not in ok:
            raise UserError(f"FEDn API {method} /api/v1/{path} failed (HTTP {response.status_code}: "
                            f"{_message(response)}): see the controller log in the state dir")
        ctype = response.headers.get("Content-Type", "")
        return response.json() if ctype.startswith("application/json") else response.content

    def get(self, path: str, retries: int = 3, **kwargs: Any) -> Any:
        """GET, retrying a transient HTTP 500.

        FEDn 0.33.0 reads a round and its combiners' configs in separate
        statements (READ COMMITTED); when the controller rewrites the round in
        between, the read fails once ("Invalid key: config_job_id for
        RoundCombinerDTO") and succeeds on the next try.
        """
        for attempt in range(retries + 1):
            try:
                return self.request("GET", path, **kwargs)
            except UserError as exc:
                if "HTTP 500" not in str(exc) or attempt == retries:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def list(self, kind: str, limit: int = 500, sort_key: str | None = None, descending: bool = True,
             **filters: Any) -> list[dict]:
        headers = {"X-Limit": str(limit)}
        if sort_key:
            headers.update({"X-Sort-Key": sort_key, "X-Sort-Order": "desc" if descending else "asc"})
        data = self.get(f"{kind}/", headers=headers, params={k: v for k, v in filters.items() if v is not None})
        return data.get("result", []) if isinstance(data, dict) else []

    # -- health -------------------------------------------------------------------
    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, grace: float = 60.0, probe_timeout: float = 5.0,
                     log: Callable[[str], None] | None = None) -> None:
        """Return once /health answers 200; one-line UserError if it does not within ``grace`` s.

        A refused connection fails at once: nothing listens, so waiting cannot
        help. A slow or failing answer is waited out: FEDn 0.33 serves the API
        with sync gunicorn workers, one per CPU, and one slow request per
        worker leaves /health unanswered (on the Swarm, before the clients
        waited for the combiner: timed out at 2 s twice in the first 5 s after
        the controller turned healthy, then answered in 0.01 s).
        """
        deadline, said = time.monotonic() + grace, False
        while True:
            try:
                response = requests.get(f"{self.url}/health", timeout=probe_timeout)
                if response.status_code == 200:
                    return
                why = f"answers HTTP {response.status_code}"
            except requests.Timeout:
                why = f"did not answer /health within {probe_timeout:.0f} s"
            except requests.ConnectionError as exc:
                if _refused(exc):
                    raise UserError(f"FEDn API at {self.url} is unreachable: run `stacklab fl up` first") from None
                why = "cannot be reached yet"
            if time.monotonic() > deadline:
                raise UserError(f"FEDn API at {self.url} {why} after {grace:.0f} s of retries: "
                                "check `stacklab fl status` and the controller log") from None
            if log and not said:
                log(f"fl run: FEDn API at {self.url} {why}; retrying for up to {grace:.0f} s")
                said = True
            time.sleep(1.0)

    def online_clients(self) -> list[dict]:
        return [c for c in self.list("clients") if c.get("status") in ("online", "available")]

    def wait_for_clients(self, n: int, timeout: float = 120.0, procs_alive: Callable[[], bool] | None = None) -> list[dict]:
        deadline = time.monotonic() + timeout
        online: list[dict] = []
        while time.monotonic() < deadline:
            online = [c for c in self.list("clients") if c.get("status") == "online"]
            if len(online) >= n:
                return online
            if procs_alive is not None:
                procs_alive()
            time.sleep(0.5)
        raise UserError(f"only {len(online)} of {n} FL clients online after {timeout:.0f} s: see the client logs in the state dir")


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        return str(data.get("message", data))[:200]
    except ValueError:
        return response.text.strip()[:200] or response.reason


def _refused(exc: requests.ConnectionError) -> bool:
    """Was the connection refused? requests wraps it: MaxRetryError.reason -> NewConnectionError <- the OSError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    while reason is not None:
        if isinstance(reason, ConnectionRefusedError):
            return True
        reason = reason.__cause__ or reason.__context__
    return False
