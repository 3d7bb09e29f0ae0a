"""The federation's processes on one machine: PostgreSQL, S3, combiner, controller, clients.

Every start function takes the config (ports, hosts, paths) and the secrets,
so a container entrypoint can call the same function for one role
(`python -m stacklab.federated.launch combiner --state-dir ...`). `up` starts
them in dependency order and returns once each is healthy; `down` stops
exactly what the PID files name.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

from stacklab.core.errors import UserError
from stacklab.federated.config import FLConfig, save_config
from stacklab.federated.local import procs
from stacklab.federated.local.fedn_env import fedn_env, make_dir, write_fedn_settings
from stacklab.federated.local.postgres import start_postgres
from stacklab.federated.local.s3 import start_s3
from stacklab.federated.secrets import ensure_secrets, load_secrets


def _launch_argv(role: str, cfg: FLConfig, *extra: str) -> list[str]:
    return [sys.executable, "-m", "stacklab.federated.launch", role, "--state-dir", str(cfg.path()), *extra]


def start_combiner(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc:
    """Start before the controller: it creates the schema, see compat bug 3."""
    proc = procs.start(cfg.path(), "combiner", _launch_argv("combiner", cfg),
                       env=fedn_env(cfg, "combiner", sec), cwd=make_dir(cfg.path("combiner")),
                       ports=(cfg.combiner_port,))
    procs.wait_until(proc, lambda: procs.port_in_use(cfg.combiner_host, cfg.combiner_port), "listening", timeout=90)
    return proc


def start_controller(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc:
    proc = procs.start(cfg.path(), "controller", _launch_argv("controller", cfg),
                       env=fedn_env(cfg, "controller", sec), cwd=make_dir(cfg.path("controller")),
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
