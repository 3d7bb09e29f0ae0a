"""Entry point of every FEDn process we run: apply the compat layer, then FEDn's own code.

    python -m stacklab.federated.launch controller --state-dir DIR
    python -m stacklab.federated.launch combiner   --state-dir DIR
    python -m stacklab.federated.launch client     --state-dir DIR --index 1 [--mode inprocess|subprocess]
    python -m stacklab.federated.launch partitions --state-dir DIR   # write the clients' data shares

DIR holds config.yaml and secrets.yaml (`stacklab fl up` writes both; a
container mounts them, e.g. as a config + a Docker secret). fedn/settings.yaml
is derived from them here when missing.
"""

from __future__ import annotations

import argparse
import os
import sys

from stacklab.core.errors import UserError
from stacklab.federated import compat
from stacklab.federated.config import load_saved
from stacklab.federated.local.fedn_env import settings_path, write_fedn_settings
from stacklab.federated.secrets import load_secrets


def _controller(cfg) -> None:
    from fedn.common.config import get_statestore_config

    print(f"launch: compat {compat.apply('controller')}", flush=True)
    compat.create_schema_once(get_statestore_config())
    from fedn.network.api.server import start_server_api

    start_server_api()


def _combiner(cfg) -> None:
    print(f"launch: compat {compat.apply('combiner')}", flush=True)
    from fedn.cli import main

    main.main(
        args=["combiner", "start", "--host", cfg.combiner_host, "--port", str(cfg.combiner_port),
              "--name", cfg.combiner_name, "--max_clients", str(max(30, cfg.n_clients))],
        prog_name="fedn", standalone_mode=True,
    )


def _client(cfg, index: int, mode: str) -> None:
    from stacklab.federated import client

    print(f"launch: compat {compat.apply('client')}; mode {mode}", flush=True)
    if mode == "inprocess":
        client.run_inprocess(cfg, index)
    else:
        client.run_subprocess_client(cfg, index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacklab.federated.launch")
    parser.add_argument("role", choices=["controller", "combiner", "client", "partitions"])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--index", type=int, default=1, help="client number (1..n_clients)")
    parser.add_argument("--mode", choices=["inprocess", "subprocess"], default=None,
                        help="client mode (default: client_mode of the config)")
    args = parser.parse_args(argv)
    try:
        cfg = load_saved(args.state_dir)
        if not settings_path(cfg).exists():
            write_fedn_settings(cfg, load_secrets(cfg))
        os.environ.setdefault("STATESTORE_CONFIG", str(cfg.path("fedn", "settings.yaml")))
        os.environ.setdefault("MODELSTORAGE_CONFIG", str(cfg.path("fedn", "settings.yaml")))
        if args.role == "controller":
            _controller(cfg)
        elif args.role == "combiner":
            _combiner(cfg)
        elif args.role == "partitions":
            from stacklab.federated.task import prepare_partitions

            prepare_partitions(cfg)
        else:
            if not 1 <= args.index <= cfg.n_clients:
                raise UserError(f"client index {args.index} out of range 1..{cfg.n_clients}: pass --index")
            _client(cfg, args.index, args.mode or cfg.client_mode)
    except UserError as exc:
        print(f"stacklab: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
