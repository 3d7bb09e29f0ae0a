"""One place for every FL knob: a dataclass, a YAML file, CLI overrides.

`stacklab fl up` freezes the effective config into <state_dir>/config.yaml;
every later command (run, status, down, dashboard) and every process we launch
reads that file, so ports and paths cannot drift between them. Secrets are not
part of it: they live in <state_dir>/secrets.yaml (0600, see secrets.py).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacklab.core import kit
from stacklab.core.constants import COMBINER_PORT, CONTROLLER_PORT, DASHBOARD_PORT
from stacklab.core.errors import UserError

DEFAULT_STATE_DIR = Path(os.environ.get("STACKLAB_FL_STATE", "var/fl"))
CLIENT_MODES = ("inprocess", "subprocess")
# FL aggregation: the combiner aggregators of FEDn 0.33 (fedn/network/combiner/aggregators/).
# FedOpt (Reddi et al. 2021) applies a server optimiser to the clients' mean update;
# these are its parameters with FEDn's defaults (fedopt.py). fedadam / fedyogi /
# fedadagrad name FedOpt with that server optimiser.
SERVER_OPTIMISERS = ("adam", "yogi", "adagrad")
FEDOPT_PARAMS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.99, "tau": 1e-4}
# name -> (FEDn's aggregator, fixed kwargs, accepted kwargs)
AGGREGATORS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "fedavg": ("fedavg", {}, ()),
    "fedopt": ("fedopt", {}, ("serveropt", *FEDOPT_PARAMS)),
    **{f"fed{opt}": ("fedopt", {"serveropt": opt}, tuple(FEDOPT_PARAMS)) for opt in SERVER_OPTIMISERS},
}


@dataclass
class FLConfig:
    """Everything `fl up` needs; all paths relative to the current directory unless absolute."""

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"  # address every service is reached at (and binds to where it can)
    network_id: str = "stacklab-fl"
    # PostgreSQL statestore; postgres_start=False uses an existing server at postgres_host.
    postgres_start: bool = True
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 15432
    postgres_user: str = "fedn"
    postgres_bin: str = "/usr/lib/postgresql/15/bin"
    # S3 model store. s3_endpoint empty: start SeaweedFS on s3_port. Set it (e.g.
    # http://minio:9000) to use MinIO or any S3 instead; keys then come from
    # STACKLAB_S3_ACCESS_KEY / STACKLAB_S3_SECRET_KEY.
    s3_endpoint: str = ""
    s3_port: int = 9100
    weed_master_port: int = 9334  # SeaweedFS also takes port+10000 for gRPC
    weed_volume_port: int = 9335
    weed_filer_port: int = 9336
    controller_port: int = CONTROLLER_PORT
    combiner_host: str = "127.0.0.1"  # the address clients are told to dial
    combiner_port: int = COMBINER_PORT
    combiner_name: str = "combiner1"
    dashboard_port: int = DASHBOARD_PORT
    # JWT auth on the API (FEDN_JWT_SECRET_KEY generated at up) -- clients get tokens.
    auth: bool = False
    # clients
    n_clients: int = 2
    client_mode: str = "inprocess"  # or "subprocess": upstream CLI client, python per task
    non_iid: bool = False
    data: str = "auto"  # MNIST source, see stacklab.data.mnist.load_mnist
    train_per_client: int = 1000
    test_per_client: int = 500
    global_test: int = 1000
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    seed: int = 0
    # System heterogeneity on purpose: client index -> extra seconds each local
    # update takes (a slow device), e.g. --set client_delay_s=3:6 or a YAML mapping.
    client_delay_s: dict = field(default_factory=dict)
    # session
    round_timeout: int = 180
    aggregator: str = "fedavg"  # a key of AGGREGATORS
    aggregator_args: dict = field(default_factory=dict)  # e.g. {learning_rate: 0.01}; see FEDOPT_PARAMS
    clients_required: int = 0  # 0: all n_clients
    # the compute package: shipped in the wheel, federated/client in a checkout
    package_dir: Path = field(default_factory=lambda: kit.shipped("stacklab.federated.compute_package",
                                                                  "federated/client"))

    # -- derived paths -------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.controller_port}"

    def path(self, *parts: str) -> Path:
        return Path(self.state_dir).resolve().joinpath(*parts)

    def client_name(self, index: int) -> str:
        return f"client{index}"

    def client_dir(self, index: int) -> Path:
        return self.path("clients", self.client_name(index))

    def fedn_aggregator(self) -> tuple[str, dict[str, Any]]:
        """(FEDn's aggregator name, its aggregator_kwargs) for the session config."""
        name, fixed, _ = AGGREGATORS[self.aggregator]
        return name, {**fixed, **self.aggregator_args}

    @property
    def required_clients(self) -> int:
        return self.clients_required or self.n_clients

    def validate(self) -> FLConfig:
        if self.n_clients < 1:
            raise UserError(f"n_clients must be >= 1, not {self.n_clients}: pass --clients N")
        if self.client_mode not in CLIENT_MODES:
            raise UserError(f"unknown client mode {self.client_mode!r}: use one of {', '.join(CLIENT_MODES)}")
        if self.required_clients > self.n_clients:
            raise UserError(f"clients_required={self.clients_required} exceeds n_clients={self.n_clients}: lower it")
        self.client_delay_s = parse_delays(self.client_delay_s, self.n_clients)
        self.aggregator_args = parse_aggregator_args(self.aggregator, self.aggregator_args)
        for name in ("postgres_port", "s3_port", "weed_master_port", "weed_volume_port", "weed_filer_port",
                     "controller_port", "combiner_port", "dashboard_port"):
            port = getattr(self, name)
            if not 1 <= int(port) <= 55535:  # SeaweedFS adds 10000 for its gRPC ports
                raise UserError(f"{name}={port} is not a usable port: pick 1..55535")
        return self

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FLConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UserError(f"unknown FL config key(s) {', '.join(unknown)}: valid keys are {', '.join(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            default = getattr(cls(), key)
            try:
                kwargs[key] = _coerce(value, default)
            except (TypeError, ValueError):
                raise UserError(f"FL config {key}={value!r} is not a {type(default).__name__}: fix the value") from None
        return cls(**kwargs)


def _mapping(key: str, value: Any, sep: str, pairs_of: str, hint: str) -> dict:
    """A config value that is a mapping (YAML) or "A<sep>B,A<sep>B" text (--set, environment)."""
    if isinstance(value, str):
        pairs = [item.split(sep, 1) for item in value.replace(" ", "").split(",") if item]
        if any(len(p) != 2 for p in pairs):
            raise UserError(f"{key}={value!r} is not {pairs_of} pairs: {hint}")
        value = dict(pairs)
    if not isinstance(value, dict):
        raise UserError(f"{key}={value!r} is not a mapping: {hint}")
    return value


def parse_delays(value: Any, n_clients: int) -> dict[int, float]:
    """{index: seconds} from a mapping or "I:S,I:S"; one clear error for anything else."""
    hint = "give client_delay_s as INDEX:SECONDS pairs, e.g. 3:6 or 2:1.5,3:6"
    value = _mapping("client_delay_s", value, ":", "INDEX:SECONDS", hint)
    out: dict[int, float] = {}
    for key, seconds in value.items():
        try:
            index, delay = int(key), float(seconds)
        except (TypeError, ValueError):
            raise UserError(f"client_delay_s entry {key}:{seconds} is not INDEX:SECONDS: {hint}") from None
        if not 1 <= index <= n_clients or delay < 0:
            raise UserError(f"client_delay_s entry {key}:{seconds}: clients are 1..{n_clients} and delays >= 0 s")
        out[index] = delay
    return out


def parse_aggregator_args(aggregator: str, value: Any) -> dict[str, Any]:
    """Check the aggregator's name and its parameters (a mapping or "KEY=VALUE,..."); one error line each."""
    if aggregator not in AGGREGATORS:
        raise UserError(f"unknown aggregator {aggregator!r}: use one of {', '.join(AGGREGATORS)}")
    accepted = AGGREGATORS[aggregator][2]
    value = _mapping("aggregator_args", value, "=", "KEY=VALUE", "give e.g. learning_rate=0.01,beta1=0.9")
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in accepted:
            takes = f"takes {', '.join(accepted)}" if accepted else "takes no parameters"
            raise UserError(f"aggregator {aggregator} has no parameter {key!r}: it {takes}")
        if key == "serveropt":
            if raw not in SERVER_OPTIMISERS:
                raise UserError(f"serveropt={raw!r} is not a FedOpt server optimiser: use one of "
                                f"{', '.join(SERVER_OPTIMISERS)}")
            out[key] = raw
            continue
        try:
            out[key] = float(raw)
        except (TypeError, ValueError):
            raise UserError(f"aggregator parameter {key}={raw!r} is not a number: e.g. {key}="
                            f"{FEDOPT_PARAMS[key]}") from None
    return out


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, Path):
        return Path(value)
    if isinstance(default, (int, float)):
        return type(default)(value)
    return value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> FLConfig:
    """Defaults, then a YAML file (if given), then non-None overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data.update(_read_yaml(Path(path)))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return FLConfig.from_dict(data).validate()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist: pass an existing YAML file") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML ({str(exc).splitlines()[0]}): fix it") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"config file {path} must hold a mapping of keys to values: fix it")
    return loaded


def saved_config_path(state_dir: str | Path) -> Path:
    return Path(state_dir).resolve() / "config.yaml"


def save_config(cfg: FLConfig) -> Path:
    from stacklab.core.results import write_atomic

    return write_atomic(saved_config_path(cfg.state_dir), yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load_saved(state_dir: str | Path | None = None) -> FLConfig:
    """The config `fl up` froze; a clear error when nothing was started there."""
    state_dir = Path(state_dir) if state_dir is not None else DEFAULT_STATE_DIR
    path = saved_config_path(state_dir)
    if not path.exists():
        raise UserError(f"no federation state in {state_dir}: run `stacklab fl up` first (or pass --state-dir)")
    cfg = load_config(path)
    cfg.state_dir = Path(state_dir)
    return cfg
