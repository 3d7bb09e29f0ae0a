"""The statestore: a private PostgreSQL cluster in the state dir, started as one process."""

from __future__ import annotations

import os
import pwd
import signal
from pathlib import Path

from stacklab.core.errors import UserError
from stacklab.federated.config import FLConfig
from stacklab.federated.local import procs
from stacklab.federated.local.fedn_env import POSTGRES_DB, make_dir
from stacklab.federated.secrets import write_private


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
    base = make_dir(cfg.path("postgres"))
    _check_reachable_by_pg(base)
    data, run = base / "data", make_dir(base / "run")
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
