"""Workarounds for FEDn 0.33.0 on a SQL statestore, applied at process start.

One function per upstream problem; each docstring names the bug (numbered as
in the table of docs/troubleshooting.md, "Federated") and the version it
targets. `apply(role)` installs the ones a process of that role needs; the
launcher (stacklab.federated.launch) calls it before FEDn's own entry point.
Every patch is idempotent and refuses to run on another FEDn version, because
the code it wraps may have changed there.

Bug 1 (SQLite: combiner writes `updated_at = str(datetime.now())`) is not
patched: the kit's statestore is PostgreSQL, whose driver accepts the string.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

TARGET_FEDN = "0.33.0"
_applied: set[str] = set()


def check_version() -> None:
    """Refuse to patch a FEDn other than the one these workarounds were written for."""
    installed = metadata.version("fedn")
    if installed != TARGET_FEDN:
        from stacklab.core.errors import UserError

        raise UserError(
            f"fedn {installed} is installed but stacklab.federated.compat targets {TARGET_FEDN}: "
            f"install fedn=={TARGET_FEDN} (requirements.txt) or re-check each workaround"
        )


def _once(name: str) -> bool:
    if name in _applied:
        return False
    _applied.add(name)
    return True


def use_psycopg2_driver() -> None:
    """Bug 2 (fedn 0.33.0): `postgresql://` URL + SQLAlchemy 2.1 -> psycopg 3 (not shipped).

    fedn builds `postgresql://user:pw@host:port/fedn_db`; SQLAlchemy 2.1 maps
    the bare scheme to psycopg 3, fedn ships psycopg2 -> ModuleNotFoundError.
    Naming the driver explicitly makes the URL mean psycopg2 on every
    SQLAlchemy version (requirements.txt also pins SQLAlchemy<2.1).
    """
    if not _once("psycopg2"):
        return
    from fedn.network.storage import dbconnection

    original = dbconnection.create_engine

    @functools.wraps(original)
    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(url, str) and url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url[len("postgresql://") :]
        return original(url, *args, **kwargs)

    dbconnection.create_engine = create_engine


def reconnect_after_db_restart() -> None:
    """Resilience (fedn 0.33.0): a PostgreSQL restart breaks every pooled connection.

    fedn's engine has no pre-ping, so the first statement after a database
    restart fails ("server closed the connection unexpectedly"); in the
    combiner that kills the round thread. pool_pre_ping=True tests a pooled
    connection before use and reconnects transparently.
    """
    if not _once("pre_ping"):
        return
    from fedn.network.storage import dbconnection

    original = dbconnection.create_engine

    @functools.wraps(original)
    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("pool_pre_ping", True)
        return original(url, *args, **kwargs)

    dbconnection.create_engine = create_engine


def create_schema_once(statestore_config: dict) -> None:
    """Bug 3 (fedn 0.33.0): gunicorn workers race to create the tables on a fresh database.

    Each API worker runs `metadata.create_all` after fork; two at once on an
    empty PostgreSQL -> UniqueViolation, "Worker failed to boot". Creating the
    schema once in the launcher, before gunicorn forks, leaves the workers
    nothing to create.
    """
    use_psycopg2_driver()
    from fedn.network.storage.dbconnection import DatabaseConnection

    if statestore_config.get("type") not in ("PostgreSQL", "SQLite"):
        return
    probe = DatabaseConnection.__new__(DatabaseConnection)
    session_factory = probe._setup_sql(statestore_config)  # runs create_all(checkfirst=True)
    session_factory.kw["bind"].dispose()


def fix_client_add_payload(payload: dict) -> dict:
    """Bug 4 (fedn 0.33.0): POST /api/v1/clients/add -> 500 (NOT NULL `combiner_preferred`).

    Clients send `preferred_combiner`; the route reads `combiner_preferred`
    and stores None into a NOT NULL column. Copy the client's value over, with
    "" meaning "no preference" (the route treats "" like None when choosing).
    """
    if payload.get("combiner_preferred") is None:
        payload["combiner_preferred"] = payload.get("preferred_combiner") or ""
    return payload


def patch_client_add_route() -> None:
    """Bug 4 (fedn 0.33.0): install fix_client_add_payload in front of the clients/add view."""
    if not _once("client_add"):
        return
    from fedn.network.api.server import app
    from flask import request

    _patch_view(app, request, ("client", "add_client"), fix_client_add_payload)


def _patch_view(app: Any, request: Any, blueprint_view: tuple[str, str], fix: Any) -> None:
    """Run ``fix`` on the JSON body before the blueprint's view (also under FEDN_CUSTOM_URL_PREFIX)."""
    blueprint, view_name = blueprint_view
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.split(".")[0] in (blueprint, f"{blueprint}_custom") and endpoint.split(".")[-1] == view_name:
            app.view_functions[endpoint] = _fixing_payload(view, request, fix)


def _fixing_payload(view: Any, request: Any, fix: Any) -> Any:
    @functools.wraps(view)
    def fixed(*args: Any, **kwargs: Any) -> Any:
        payload = request.get_json(silent=True)  # cached: the view gets this same dict
        if isinstance(payload, dict):
            fix(payload)
        return fixed.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]

    return fixed


# APIClient.start_session's own default number of rounds (fedn/network/api/client.py)
APICLIENT_DEFAULT_ROUNDS = 5


def fill_session_rounds(payload: dict) -> dict:
    """Bug 5 (fedn 0.33.0): POST /api/v1/sessions/ -> 500 "An unexpected error occurred".

    `APIClient.start_session(name=..., rounds=N)` creates the session without
    `session_config.rounds`, a NOT NULL column (controller log:
    NotNullViolation: null value in column "rounds" of relation "session_configs"),
    and only then sends N to POST /sessions/start, which runs N rounds
    whatever the stored config says. Store APIClient's default so the row
    can be written; record_started_rounds then stores the N that runs.
    """
    config = payload.get("session_config")
    if isinstance(config, dict) and config.get("rounds") is None:
        config["rounds"] = APICLIENT_DEFAULT_ROUNDS
    return payload


def patch_session_create_route() -> None:
    """Bug 5 (fedn 0.33.0): install fill_session_rounds in front of the sessions POST view."""
    if not _once("session_create"):
        return
    from fedn.network.api.server import app
    from flask import request

    _patch_view(app, request, ("session", "post"), fill_session_rounds)
    _patch_view(app, request, ("session", "start_session"), record_started_rounds)


def record_started_rounds(payload: dict) -> dict:
    """Bug 5, its second half: the session would keep fill_session_rounds' placeholder.

    POST /sessions/start runs the `rounds` it is sent; store that number in
    the not-yet-started session's config first, so GET /sessions/<id> says
    what ran. Anything unexpected leaves the request to the view, which
    answers it as upstream does.
    """
    session_id, rounds = payload.get("session_id"), payload.get("rounds")
    if not session_id or not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        return payload
    from fedn.network.controller.control import Control

    try:
        control = Control.instance()
        session = control.db.session_store.get(session_id)
        if session is not None and session.status == "Created":
            control.set_session_config(session_id, {"rounds": rounds})
    except Exception:  # noqa: BLE001 - the view reports a missing or bad session itself
        pass
    return payload


def session_create_payload(session_config: dict, rounds: int, name: str | None = None) -> dict:
    """Bug 5 (fedn 0.33.0): the kit's own sessions carry `session_config.rounds` (NOT NULL).

    session.py POSTs /api/v1/sessions/ with this payload (rounds included),
    then POST /api/v1/sessions/start; a controller without
    patch_session_create_route (e.g. not started by the kit) accepts it too.
    """
    config = dict(session_config)
    config["rounds"] = int(rounds)
    payload: dict[str, Any] = {"session_config": config}
    if name:
        payload["name"] = name
    return payload


def coerce_round_config_booleans() -> None:
    """Bug 6 (fedn 0.33.0): rounds never complete on SQL: the combiner stores its round config as strings.

    The controller sends the round config to the combiner over gRPC as strings
    (`str(v)`), and the combiner appends it to the round as-is: booleans
    arrive as 'True'/'False' (SQLAlchemy's Boolean rejects them) and unset
    optional integers as 'None' (PostgreSQL rejects them). The update fails,
    the combiner's round thread dies and the controller waits until the round
    timeout. Convert those values back before flush.
    """
    if not _once("round_booleans"):
        return
    from fedn.network.storage.statestore.stores.round_store import SQLRoundStore

    original = SQLRoundStore._update_orm_model_from_dto

    @functools.wraps(original)
    def update(self: Any, entity: Any, item: Any) -> Any:
        entity = original(self, entity, item)
        for combiner in entity.combiners:
            if combiner.round_config is not None:
                fix_round_config_strings(combiner.round_config)
        return entity

    SQLRoundStore._update_orm_model_from_dto = update


def fix_round_config_strings(config: Any) -> Any:
    """Bug 6: 'True'/'False' -> bool on Boolean columns, 'None' -> None on every column."""
    from sqlalchemy import Boolean

    for column in config.__table__.columns:
        value = getattr(config, column.key, None)
        if not isinstance(value, str):
            continue
        if value == "None":
            setattr(config, column.key, None)
        elif isinstance(column.type, Boolean):
            setattr(config, column.key, value.strip().lower() == "true")
    return config


def latest_round_id_as_number() -> None:
    """Bug 8 (fedn 0.33.0, found here): once rounds 1..10 exist, a new session reuses round id 10.

    SQLRoundStore.get_latest_round_id sorts the round ids, stored as text, as
    text: '9' > '10', so the next session numbers its first round 10 again,
    the insert violates the primary key (UniqueViolation in the controller log)
    and the session never runs a round. Take the numeric maximum instead.
    """
    if not _once("latest_round_id"):
        return
    from fedn.network.storage.statestore.stores.round_store import SQLRoundStore
    from sqlalchemy import Integer, cast, func, select

    def get_latest_round_id(self: Any) -> int:
        with self.Session() as session:
            latest = session.scalar(select(func.max(cast(self.SQLModel.id, Integer))))
        return int(latest or 0)

    SQLRoundStore.get_latest_round_id = get_latest_round_id


def grpc_token_on_plain_channel() -> None:
    """Bug 7 (fedn 0.33.0, found here): JWT auth + plain (non-TLS) gRPC -> "Token is missing".

    The client attaches its token only to TLS channels (port 443, via call
    credentials); the combiner's JWTInterceptor demands it on every client
    RPC whenever FEDN_JWT_SECRET_KEY is set. On a plain channel (the
    combiner's default port 12080) every task stream is refused. Send the
    token as per-call metadata, which the interceptor reads either way.
    """
    if not _once("grpc_token"):
        return
    from fedn.common.config import FEDN_AUTH_SCHEME
    from fedn.network.clients.grpc_handler import GRPC_SECURE_PORT, GrpcHandler

    original = GrpcHandler.__init__

    @functools.wraps(original)
    def init(self: Any, host: str, port: int, name: str, token: str, combiner_name: str) -> None:
        original(self, host, port, name, token, combiner_name)
        if token and int(port) != GRPC_SECURE_PORT:
            self.metadata.append(("authorization", f"{FEDN_AUTH_SCHEME} {token}"))

    GrpcHandler.__init__ = init


# -- latency: not bugs, but upstream defaults that cost seconds per round ------

CONTROLLER_POLL_S = (0.05, 0.15)
COMBINER_POLL_S = 0.05


def fast_controller_polling() -> None:
    """fedn 0.33.0 controller polls "combiners done?" every 1-2 s (tenacity wait_random).

    `Control.round` builds its retry decorator on every call from the module
    global `wait_random(min=1.0, max=2.0)`, so rebinding that name shortens
    the wait; ~1.5 s of idle time per round becomes ~0.1 s. A database read per
    poll is cheap next to a round.
    """
    if not _once("controller_poll"):
        return
    from fedn.network.controller import control

    original = control.wait_random

    def wait_random(min: float = 0, max: float = 1) -> Any:  # noqa: A002 - tenacity's names
        if min >= 1.0:
            return original(min=CONTROLLER_POLL_S[0], max=CONTROLLER_POLL_S[1])
        return original(min=min, max=max)

    control.wait_random = wait_random


def fast_combiner_polling() -> None:
    """fedn 0.33.0 combiner checks its job queue once a second (RoundHandler.run(polling_interval=1.0)).

    Both the training job and the validation job of every round wait for that
    tick (~0.5 s each on average). Poll every 50 ms instead.
    """
    if not _once("combiner_poll"):
        return
    from fedn.network.combiner.roundhandler import RoundHandler

    original = RoundHandler.run

    @functools.wraps(original)
    def run(self: Any, polling_interval: float = COMBINER_POLL_S) -> Any:
        return original(self, polling_interval=min(polling_interval, COMBINER_POLL_S))

    RoundHandler.run = run


ROLES = {
    "controller": (use_psycopg2_driver, reconnect_after_db_restart, patch_client_add_route, patch_session_create_route,
                   coerce_round_config_booleans, latest_round_id_as_number, fast_controller_polling),
    "combiner": (use_psycopg2_driver, reconnect_after_db_restart, coerce_round_config_booleans, fast_combiner_polling),
    "client": (grpc_token_on_plain_channel,),
}


def apply(role: str) -> list[str]:
    """Install the workarounds a process of this role needs; returns their names."""
    check_version()
    names = []
    for fix in ROLES[role]:
        fix()
        names.append(fix.__name__)
    return names
