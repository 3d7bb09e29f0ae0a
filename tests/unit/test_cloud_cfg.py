"""cloud-cfg.txt is valid for cloud-init (Debian's own schema validator) and does
what the lab needs: Docker, then swarm/node-bootstrap.sh with the node's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

CLOUD_INIT = Path(os.environ.get("STACKLAB_CLOUD_INIT_DIR", "/opt/stacklab-tools/cloud-init"))
VALIDATE = """
import sys
from cloudinit.config import schema
try:
    schema.validate_cloudconfig_file(sys.argv[1], schema.get_schema())
except schema.SchemaValidationError as exc:
    sys.exit(f"INVALID {exc}")
print("valid")
"""


def cloud_init_schema(path: Path) -> subprocess.CompletedProcess:
    site = CLOUD_INIT / "usr/lib/python3/dist-packages"
    assert (site / "cloudinit").is_dir(), f"{site} missing: run scripts/system-deps.sh"
    return subprocess.run([sys.executable, "-c", VALIDATE, str(path)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)


def test_cloud_cfg_passes_cloud_init_schema():
    proc = cloud_init_schema(REPO / "cloud-cfg.txt")
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr


def test_the_validator_catches_a_wrong_type(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("#cloud-config\npackages: docker.io\nruncmd: 5\n")
    proc = cloud_init_schema(bad)
    assert proc.returncode != 0 and "runcmd" in proc.stderr


def test_cloud_cfg_installs_docker_and_runs_the_bootstrap():
    text = (REPO / "cloud-cfg.txt").read_text()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    # no `packages:`: cloud-init's apt-get update would fail on an offline image;
    # node-bootstrap.sh installs what is missing unless OFFLINE=yes
    assert "packages" not in doc and "package_update" not in doc
    bootstrap = (REPO / "swarm" / "node-bootstrap.sh").read_text()
    assert "dockerd:docker.io" in bootstrap and 'OFFLINE:-no}" != yes' in bootstrap
    runcmd = [" ".join(map(str, c)) if isinstance(c, list) else c for c in doc["runcmd"]]
    assert runcmd[0] == "/usr/local/sbin/stacklab-get-kit"
    assert any("swarm/node-bootstrap.sh from-env /etc/stacklab/node.env" in c for c in runcmd)
    env_file = next(f for f in doc["write_files"] if f["path"] == "/etc/stacklab/node.env")
    assert env_file["permissions"] == "0600"
    keys = {line.split("=", 1)[0] for line in env_file["content"].splitlines() if "=" in line}
    assert {"ROLE", "NODE_IP", "MANAGER_IP", "CLUSTER_SUBNET", "NODE_LABELS", "OFFLINE",
            "INSECURE_REGISTRIES", "DOCKER_API_FROM", "DISPATCHER_HEARTBEAT"} <= keys
    # the one variable between a cloud image and the offline one is documented
    assert "OFFLINE=no" in text.split("users:")[0] and "OFFLINE=yes" in text.split("users:")[0]
    get_kit = next(f for f in doc["write_files"] if f["path"] == "/usr/local/sbin/stacklab-get-kit")
    assert "LABEL=cidata" in get_kit["content"] and "git clone" in get_kit["content"]
    # the join key may only print the token
    keys = [k for u in doc["users"] if isinstance(u, dict) for k in u.get("ssh_authorized_keys", [])]
    assert keys and all(k.startswith('command="docker swarm join-token -q worker"') for k in keys)


def test_bootstrap_script_parses_and_knows_every_step():
    script = REPO / "swarm" / "node-bootstrap.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2
    for step in ("install-docker", "firewall", "init", "join", "label", "from-env"):
        assert step in usage.stderr


def test_rendered_user_data_of_each_vm_passes_the_schema(tmp_path):
    """What `stacklab vm up` hands each VM is still valid cloud-config."""
    from stacklab.vm import cluster, seed

    private, public = seed.keypair(tmp_path, "join")
    for index in (1, 2):
        env = cluster.node_env(index, 3, "198.51.100.0/24", "tcg")
        path = tmp_path / f"user-data-{index}"
        path.write_text(seed.render(seed.CLOUD_CFG.read_text(), env, public, private))
        proc = cloud_init_schema(path)
        assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr
