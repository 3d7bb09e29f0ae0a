"""cloud-cfg.txt rendered for one VM, and its NoCloud seed ISO.

The VM runs the kit's own cloud-cfg.txt, changed only where the file itself
says a user edits it: node.env's values, the join key's public half (manager)
or private half (workers). OFFLINE=yes makes the same file take packages from
the image and the kit from this seed volume (stacklab-kit.tar.gz).
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
from pathlib import Path
from typing import Any

import yaml

from stacklab.cluster import images
from stacklab.cluster.shell import REPO, need_tool, run
from stacklab.core.errors import UserError

CLOUD_CFG = REPO / "cloud-cfg.txt"
NODE_ENV = "/etc/stacklab/node.env"
JOIN_KEY_PATH = "/root/.ssh/swarm_join"
KIT_NAME = "stacklab-kit.tar.gz"
# what the VMs get of the kit: what the kit image holds (the package and the
# parts' stack dirs), plus the node bootstrap and what installs the kit
KIT_ITEMS = list(dict.fromkeys([*images.KIT_DIRS, "swarm", "docker", "scripts", "cloud-cfg.txt",
                                "pyproject.toml", "requirements.txt", "README.md"]))
PLACEHOLDER_KEY = re.compile(r"ssh-ed25519 \S*REPLACE\S* stacklab-join")


class _Literal(yaml.SafeDumper):
    """Multi-line strings as | blocks, so the rendered user-data stays readable."""


_Literal.add_representer(str, lambda d, s: d.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def set_env(content: str, values: dict[str, str]) -> str:
    """node.env with each KEY=... line's value replaced; a key the file lacks is an error."""
    lines, seen = [], set()
    for line in content.splitlines():
        key = line.split("=", 1)[0]
        if "=" in line and not line.startswith("#") and key in values:
            line = f"{key}={shlex.quote(values[key])}"
            seen.add(key)
        lines.append(line)
    missing = sorted(set(values) - seen)
    if missing:
        raise UserError(f"{CLOUD_CFG.name}: node.env has no {', '.join(missing)}: "
                        "restore the file from the kit")
    return "\n".join(lines) + "\n"


def render(template: str, env: dict[str, str], join_public: str, join_private: str) -> str:
    """User-data for one node: env["ROLE"] decides which half of the join key it gets."""
    doc: dict[str, Any] = yaml.safe_load(template)
    manager = env["ROLE"] == "manager"
    files = []
    for entry in doc.get("write_files", []):
        if entry["path"] == NODE_ENV:
            entry["content"] = set_env(entry["content"], env)
        elif entry["path"] == JOIN_KEY_PATH:
            if manager:
                continue  # 3. "delete this entry on the manager"
            entry["content"] = join_private if join_private.endswith("\n") else join_private + "\n"
        files.append(entry)
    doc["write_files"] = files
    for user in doc.get("users", []):
        if isinstance(user, dict) and user.get("name") == "root":
            keys = user.get("ssh_authorized_keys", [])
            # 2. the forced-command key on the manager only; workers get none
            user["ssh_authorized_keys"] = [PLACEHOLDER_KEY.sub(join_public.strip(), k)
                                           for k in keys] if manager else []
            if not user["ssh_authorized_keys"]:
                del user["ssh_authorized_keys"]
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_Literal, sort_keys=False, width=1000)


def network_config(mac: str, address: str) -> str:
    """Static address matched by MAC; no gateway: nothing is routed off the machine."""
    return yaml.safe_dump({"version": 2, "ethernets": {"eth0": {
        "match": {"macaddress": mac}, "set-name": "eth0", "addresses": [address]}}},
        sort_keys=False)


def keypair(directory: Path, name: str) -> tuple[str, str]:
    """A fresh ed25519 key pair (private, public) made with ssh-keygen."""
    ssh_keygen = need_tool("ssh-keygen", "apt-get install openssh-client")
    key = directory / name
    for old in (key, key.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)])
    return key.read_text(), Path(f"{key}.pub").read_text()


def kit_tarball(dest: Path) -> Path:
    """The kit's files as a tar.gz (a few MB): what OFFLINE=yes unpacks at /opt/stacklab."""
    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if images.KIT_SKIP & set(Path(info.name).parts) else info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for item in KIT_ITEMS:
            if (REPO / item).exists():
                tar.add(REPO / item, arcname=item, filter=keep)
    dest.write_bytes(buf.getvalue())
    return dest


def write_iso(directory: Path, user_data: str, hostname: str, instance_id: str,
              netcfg: str, kit: Path) -> Path:
    """The NoCloud seed: volume label cidata, found by cloud-init on any drive."""
    genisoimage = need_tool("genisoimage", "run scripts/system-deps.sh (genisoimage)")
    files = {"user-data": user_data, "network-config": netcfg,
             "meta-data": f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n"}
    src = directory / "seed"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (src / name).write_text(text)
        (src / name).chmod(0o600)  # holds the join key
    (src / KIT_NAME).write_bytes(kit.read_bytes())
    iso = directory / "seed.iso"
    run([genisoimage, "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock",
         *(str(src / n) for n in (*files, KIT_NAME))])
    iso.chmod(0o600)  # a worker's seed holds the join key's private half
    return iso
