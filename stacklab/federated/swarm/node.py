"""Entry point of every container of the federated stack (federated/docker-stack.yml).

    python -m stacklab.federated.swarm.node postgres|controller|combiner|client|dashboard

Each container builds the same FL config from the stack's environment
(``STACKLAB_FL_<KEY>`` for any key of stacklab.federated.config.FLConfig, e.g.
``STACKLAB_FL_TRAIN_PER_CLIENT=200``) plus the service names of the stack
(postgres, s3, controller, combiner), writes it into a state dir of its own
with the credentials from the Docker secrets, waits for the services it needs
(Swarm ignores ``depends_on``: every start order is made robust by retries
here and by the restart policy), then runs the same code as the local
federation (stacklab.federated.launch / services / dashboard).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from stacklab.cluster import netinfo, secrets
from stacklab.core.constants import FL_SECRETS, FL_SWARM_POSTGRES_PORT, FL_SWARM_STATE_DIR, S3_PORT
from stacklab.core.errors import UserError
from stacklab.federated.config import FLConfig, load_config, save_config
from stacklab.federated.secrets import write_private

STATE_DIR = Path(os.environ.get("STACKLAB_FL_STATE", FL_SWARM_STATE_DIR))
ENV_PREFIX = "STACKLAB_FL_"
# The stack's service names: Swarm's DNS (dnsrr) resolves them to task IPs.
SERVICE_HOSTS = {"host": "controller", "postgres_host": "postgres", "combiner_host": "combiner",
                 "s3_endpoint": f"http://s3:{S3_PORT}"}
# Docker secrets, each mounted under the same name as its key in the state dir's secrets.yaml
SECRET_NAMES = FL_SECRETS


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """FL config keys given as STACKLAB_FL_<KEY> (STACKLAB_FL_STATE is the state dir, not a key)."""
    environ = dict(os.environ if environ is None else environ)
    fields = set(FLConfig.__dataclass_fields__)
    out = {}
    for name, value in environ.items():
        key = name[len(ENV_PREFIX):].lower() if name.startswith(ENV_PREFIX) else ""
        if key in fields:
            out[key] = value
    return out


def swarm_config(state_dir: Path = STATE_DIR, environ: dict[str, str] | None = None) -> FLConfig:
    overrides = {"postgres_start": False, "postgres_port": FL_SWARM_POSTGRES_PORT, **SERVICE_HOSTS,
                 **env_overrides(environ), "state_dir": str(state_dir)}
    return load_config(None, overrides)


def read_secrets() -> dict[str, str]:
    values = {name: secrets.read(name) for name in SECRET_NAMES}
    missing = [name for name in SECRET_NAMES if not values[name]]
    if missing:
        raise UserError(f"Docker secret(s) {', '.join(missing)} not mounted: deploy with "
                        "`stacklab stack deploy federated` (it creates them)")
    return values


def prepare(role: str, state_dir: Path = STATE_DIR) -> tuple[FLConfig, dict[str, str]]:
    """Write config.yaml + secrets.yaml (0600) + FEDn's settings into the container's state dir,
    and set the environment a FEDn process of this role gets under `fl up`."""
    import yaml

    from stacklab.federated.local.fedn_env import fedn_env, write_fedn_settings

    cfg = swarm_config(state_dir)
    cfg.path().mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.path(), 0o755)  # the postgres user must be able to enter it
    sec = read_secrets()
    save_config(cfg)
    write_private(cfg.path("secrets.yaml"), yaml.safe_dump(sec))
    path = write_fedn_settings(cfg, sec)
    store = statestore_override()
    if store:
        settings = yaml.safe_load(path.read_text())
        settings["statestore"] = store
        write_private(path, yaml.safe_dump(settings, sort_keys=False))
    # settings paths, HOME, package/model/temp dirs, FEDN_JWT_SECRET_KEY when auth is on
    os.environ.update(fedn_env(cfg, role, sec))
    Path(os.environ["FEDN_COMPUTE_PACKAGE_DIR"]).mkdir(parents=True, exist_ok=True)
    return cfg, sec


def wait_for(what: str, host: str, port: int, timeout: float = 600) -> None:
    """Block until host:port accepts a connection (DNS first: Swarm lists a task once healthy)."""
    start = time.monotonic()
    netinfo.resolve(host, timeout)
    while True:
        try:
            with socket.create_connection((host, port), timeout=3):
                break
        except OSError:
            if time.monotonic() - start > timeout:
                raise UserError(f"{what} at {host}:{port} unreachable after {timeout:.0f} s: "
                                "see `stacklab stack ps federated`") from None
            time.sleep(1)
    print(f"swarmnode: {what} at {host}:{port} reachable after {time.monotonic() - start:.0f} s", flush=True)


def wait_base(cfg: FLConfig) -> None:
    store = statestore_override()
    if store:
        mongo = store["mongo_config"]
        wait_for("MongoDB", mongo["host"], mongo["port"])
    else:
        wait_for("PostgreSQL", cfg.postgres_host, cfg.postgres_port)
    endpoint = urlsplit(cfg.s3_endpoint)
    wait_for("S3", endpoint.hostname or "s3", endpoint.port or S3_PORT)


def statestore_override(environ: dict[str, str] | None = None) -> dict | None:
    """FEDn's statestore section for MongoDB (federated/mongodb.overlay.yml), else None.

    STACKLAB_FL_STATESTORE=MongoDB, MONGO_HOST/MONGO_PORT/MONGO_USER, password
    from the Docker secret mongo_password.
    """
    environ = dict(os.environ if environ is None else environ)
    kind = environ.get("STACKLAB_FL_STATESTORE", "PostgreSQL")
    if kind == "PostgreSQL":
        return None
    if kind != "MongoDB":
        raise UserError(f"STACKLAB_FL_STATESTORE={kind!r} is not supported: use PostgreSQL or MongoDB")
    password = secrets.read("mongo_password")
    if not password:
        raise UserError("the MongoDB statestore needs the Docker secret mongo_password: "
                        "see federated/mongodb.overlay.yml")
    return {"type": "MongoDB", "mongo_config": {
        "username": environ.get("MONGO_USER", "fedn"), "password": password,
        "host": environ.get("MONGO_HOST", "mongo"), "port": int(environ.get("MONGO_PORT", "27017"))}}


# -- roles ---------------------------------------------------------------------------

HBA_LINE = "host all all 0.0.0.0/0 scram-sha-256  # stacklab: the stack's overlay network\n"


def run_postgres(cfg: FLConfig, sec: dict[str, str]) -> int:
    """Debian's PostgreSQL 15 on the named volume, reachable from the overlay network."""
    from stacklab.federated.local import procs
    from stacklab.federated.local.postgres import start_postgres

    cfg.postgres_host = "0.0.0.0"  # listen on every interface; connect locally to 0.0.0.0 too
    proc = start_postgres(cfg, sec)
    hba = cfg.path("postgres", "data", "pg_hba.conf")
    if HBA_LINE not in hba.read_text():
        # initdb allows TCP from loopback only; FEDn connects across the overlay
        with hba.open("a") as handle:
            handle.write(HBA_LINE)
        os.kill(proc.pid, signal.SIGHUP)  # reload pg_hba.conf
    print(f"swarmnode: PostgreSQL serving on :{cfg.postgres_port} (pid {proc.pid})", flush=True)
    stopping = []

    def stop(*_: object) -> None:  # docker stop / stack rm: a fast, clean shutdown
        stopping.append(True)
        procs.stop(cfg.path(), "postgres")

    signal.signal(signal.SIGTERM, stop)
    while proc.alive():
        time.sleep(1)
    if stopping:
        return 0
    print(f"swarmnode: PostgreSQL exited: {procs.last_lines(proc)}", flush=True)
    return 1  # Swarm restarts the task


def run_fedn(role: str, cfg: FLConfig, index: int = 1) -> int:
    from stacklab.federated import launch

    wait_base(cfg)
    if role in ("controller", "client"):
        # the controller's session runner needs the global test set and client1's settings
        from stacklab.federated.task import prepare_partitions

        prepare_partitions(cfg)
    if role == "client":
        # Joining before the combiner is in DNS stalls the API: /clients/add looks the
        # combiner's name up (forwarded to the node's unreachable resolvers) in one of
        # its 2 sync workers, so two clients left /health unanswered for seconds.
        wait_for("combiner", cfg.combiner_host, cfg.combiner_port)
        os.environ["STACKLAB_FL_CLIENT_DIR"] = str(cfg.client_dir(index))
        os.chdir(cfg.client_dir(index))  # its own working dir: FEDn unpacks into ./package
        return launch.main(["client", "--state-dir", str(cfg.path()), "--index", str(index)])
    return launch.main([role, "--state-dir", str(cfg.path())])


def run_dashboard(cfg: FLConfig) -> int:
    from stacklab.federated.dashboard.server import serve
    from stacklab.federated.task import prepare_partitions

    wait_for("FEDn API", cfg.host, cfg.controller_port)
    # the same split as the controller's, from the same files in the image: the page
    # scores each round's model on the held-out set and names the data's source
    prepare_partitions(cfg)
    serve(cfg, host="0.0.0.0", port=cfg.dashboard_port)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    roles = ("postgres", "controller", "combiner", "client", "dashboard")
    if len(argv) != 1 or argv[0] not in roles:
        print(f"usage: python -m stacklab.federated.swarm.node {{{'|'.join(roles)}}}", file=sys.stderr)
        return 2
    role = argv[0]
    try:
        cfg, sec = prepare(role)
        if role == "postgres":
            return run_postgres(cfg, sec)
        if role == "dashboard":
            return run_dashboard(cfg)
        # {{.Task.Slot}} of the client service: 1..replicas, one data share each
        index = int(os.environ.get("STACKLAB_FL_CLIENT_INDEX", "1"))
        return run_fedn(role, cfg, index)
    except UserError as exc:
        print(f"stacklab: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
