"""`stacklab fl up|run|status|restart|down|dashboard|snapshot`: a FEDn federation on this machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stacklab.core.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser("fl", help="FEDn federation: up, run, status, down, dashboard",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="fl_command", required=True, parser_class=type(parser))

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--state-dir", default=None, help="where PIDs, logs, data and secrets live (default var/fl)")

    up = sub.add_parser("up", help="start PostgreSQL, S3, combiner, controller and N clients; return when healthy")
    common(up)
    up.add_argument("--config", default=None, help="YAML file of FL config keys (see stacklab/federated/config.py)")
    up.add_argument("--clients", type=int, default=None, help="number of clients (default 2)")
    up.add_argument("--mode", choices=["inprocess", "subprocess"], default=None,
                    help="inprocess: FednClient callbacks (default); subprocess: upstream CLI client, python per task")
    up.add_argument("--non-iid", action="store_true", default=None, help="label-skewed client partitions")
    up.add_argument("--data", default=None, help="MNIST IDX directory, 'mnist10k' (real 10,000-digit subset), 'fashion-mnist', 'standin' "
                                                             "or 'auto' (default)")
    up.add_argument("--auth", action="store_true", default=None, help="JWT auth on the API (secret generated)")
    up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any FL config key, e.g. --set controller_port=8192 (repeatable)")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="upload package + seed and run a session, printing each round")
    common(run)
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--out", default=None, help="results directory (default results/federated)")
    run.add_argument("--package", default=None,
                     help="compute package directory (default federated/client); needs fedn.yaml entry points")
    run.add_argument("--aggregator", default=None,
                     help="how the combiner merges client updates: fedavg (default), fedopt, fedadam, fedyogi, "
                          "fedadagrad (FEDn's FedOpt with that server optimiser)")
    run.add_argument("--aggregator-arg", action="append", default=[], metavar="KEY=VALUE",
                     help="an aggregator parameter, e.g. learning_rate=0.01 (FedOpt: learning_rate, beta1, "
                          "beta2, tau; fedopt also serveropt=adam|yogi|adagrad); repeatable")
    run.add_argument("--no-snapshot", action="store_true",
                     help="skip the dashboard screenshot (headless Chromium) taken after the session")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="processes, clients, combiners, recent sessions")
    common(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="stop exactly what `fl up` started")
    common(down)
    down.set_defaults(func=cmd_down)

    restart = sub.add_parser("restart", help="stop and start one service: postgres, s3, combiner, controller, clientN")
    common(restart)
    restart.add_argument("service")
    restart.set_defaults(func=cmd_restart)

    dash = sub.add_parser("dashboard", help="serve the web dashboard over FEDn's REST API")
    common(dash)
    dash.add_argument("--port", type=int, default=None, help="default: dashboard_port of the config (8095)")
    dash.add_argument("--host", default="127.0.0.1")
    dash.set_defaults(func=cmd_dashboard)

    snap = sub.add_parser("snapshot", help="headless Chromium screenshot of the dashboard after a session")
    common(snap)
    snap.add_argument("--out", default=None, help="directory (default results/federated)")
    snap.add_argument("--session", default=None, help="session id (default: the newest)")
    snap.add_argument("--url", default=None,
                      help="a running dashboard to capture, e.g. the Swarm stack's http://BASE-NODE:8095/ "
                           "(default: serve one over the state dir's federation)")
    snap.set_defaults(func=cmd_snapshot)

    from stacklab.federated.swarm.run import register_swarm_run

    register_swarm_run(sub)


def _pairs(items: list[str], option: str, example: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"{option} {item!r} is not KEY=VALUE: e.g. {option} {example}")
        out[key.strip()] = value.strip()
    return out


def _overrides(args: argparse.Namespace) -> dict:
    return {"state_dir": args.state_dir, "n_clients": args.clients, "client_mode": args.mode,
            "non_iid": args.non_iid, "data": args.data, "auth": args.auth, **_pairs(args.set, "--set", "controller_port=8192")}


def cmd_up(args: argparse.Namespace) -> int:
    from stacklab.federated.config import load_config
    from stacklab.federated.local.federation import up

    up(load_config(args.config, _overrides(args)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stacklab.federated.config import load_saved
    from stacklab.federated.session import run, write_results

    cfg = load_saved(args.state_dir)
    if args.package:
        cfg.package_dir = Path(args.package)
    if args.aggregator or args.aggregator_arg:  # this session's aggregation, over the config's
        if args.aggregator and args.aggregator != cfg.aggregator:
            cfg.aggregator_args = {}
        cfg.aggregator = args.aggregator or cfg.aggregator
        cfg.aggregator_args = {**cfg.aggregator_args, **_pairs(args.aggregator_arg, "--aggregator-arg", "learning_rate=0.01")}
        cfg.validate()
    result = run(cfg, args.rounds)
    path = write_results(result, args.out)
    print(f"fl run: results in {path}")
    if not args.no_snapshot:
        from stacklab.federated.dashboard.snapshot import snapshot_after_session

        snapshot_after_session(cfg, path.parent, result["session_id"], log=lambda line: print(f"fl run: {line}"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from stacklab.federated.config import load_saved
    from stacklab.federated.local.federation import status

    info = status(load_saved(args.state_dir))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for name, p in info["processes"].items():
        print(f"{name:12s} pid {p['pid']:>7}  {'running' if p['alive'] else 'DEAD'}   log {p['log']}")
    if "api_error" in info:
        print(f"API: {info['api_error']}")
    else:
        print(f"API {info['api']}: combiners {info['combiners']}; clients {info['clients']}")
        for s in info["sessions"]:
            print(f"session {s['id']} {s['status']} {s['name'] or ''}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from stacklab.federated.config import DEFAULT_STATE_DIR
    from stacklab.federated.local.federation import down

    stopped = down(args.state_dir or DEFAULT_STATE_DIR)
    print(f"fl down: {len(stopped)} process(es) stopped; no port left open")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from stacklab.federated.config import load_saved
    from stacklab.federated.local.federation import restart

    restart(load_saved(args.state_dir), args.service)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from stacklab.federated.config import load_saved
    from stacklab.federated.dashboard.server import serve

    cfg = load_saved(args.state_dir)
    serve(cfg, host=args.host, port=args.port or cfg.dashboard_port)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from stacklab.core.results import part_dir
    from stacklab.federated.config import load_saved
    from stacklab.federated.dashboard.snapshot import capture, snapshot

    out = part_dir(args.out, "federated")
    if args.url:
        meta = capture(args.url, out, args.session)
    else:
        meta = snapshot(load_saved(args.state_dir), out, args.session)
    print(f"fl snapshot: {out / meta['png']} of session {meta['session_name']} ({meta['status']}, "
          f"{meta['rounds_finished']}/{meta['rounds_requested']} rounds, clients {', '.join(meta['clients'])})")
    return 0
