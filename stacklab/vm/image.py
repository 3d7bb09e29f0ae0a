"""The VM disk: a Debian bookworm rootfs from debootstrap -> ext4 -> qcow2, offline.

No bootloader and no loop mount: QEMU boots the kernel and initrd copied out
of the rootfs (`-kernel/-initrd`), and `mkfs.ext4 -d` fills the filesystem
straight from the directory. Everything cloud-cfg.txt needs is installed, so
it runs with OFFLINE=yes (no apt). Cached under $STACKLAB_CACHE/vm/<key>, the
key a hash of every input (packages, mirror, files baked in, kernel cmdline,
disk size): CI on the same machine reuses it, a changed input rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from stacklab.cluster.images import DEBIAN_MIRROR
from stacklab.cluster.shell import cache_dir, cache_lock, log, need_tool, run
from stacklab.core.errors import UserError

SUITE = "bookworm"
# python3-cffi-backend: debootstrap cannot resolve the virtual package that
# cloud-init's python3-cryptography needs. apparmor: without it every container
# fails ("apparmor_parser not found"). openssh-*: workers fetch the join token
# from the manager over a forced-command key (see cloud-cfg.txt).
PACKAGES = [
    "systemd-sysv", "udev", "kmod", "dbus", "procps", "e2fsprogs", "linux-image-amd64",
    "initramfs-tools", "cloud-init", "python3-cffi-backend", "ifupdown", "iproute2",
    "iputils-ping", "netbase", "ca-certificates", "qemu-guest-agent", "apparmor",
    "docker.io", "iptables", "openssh-server", "openssh-client",
    "busybox-static",  # one static binary: the tests' in-VM probe image, no registry needed
]
KERNEL_CMDLINE = "root=LABEL=root rw console=ttyS0 net.ifnames=0"
DISK_SIZE = "24G"  # sparse: the qcow2 holds only what is written (images pulled later)
# Files written into the rootfs; part of the cache key.
BAKED = {
    # NoCloud only: the default list probes clouds' metadata servers for minutes.
    # locale: the one already set below, so cloud-init never runs update-locale
    # (minbase has none; `locale: false` works too but fails the schema check).
    "etc/cloud/cloud.cfg.d/90-stacklab.cfg": "datasource_list: [NoCloud, None]\nlocale: C.UTF-8\n",
    "etc/default/locale": "LANG=C.UTF-8\n",
    # the initrd must find the virtio disk by itself (no udev coldplug of PCI otherwise)
    "etc/initramfs-tools/modules": "virtio_pci\nvirtio_blk\nvirtio_net\next4\n",
    "etc/fstab": "LABEL=root / ext4 defaults,errors=remount-ro 0 1\n",
    # empty machine-id: systemd makes one at first boot, so each VM gets its own
    "etc/machine-id": "",
}


def image_key() -> str:
    h = hashlib.sha256()
    for part in (SUITE, DEBIAN_MIRROR, ",".join(PACKAGES), KERNEL_CMDLINE, DISK_SIZE,
                 json.dumps(BAKED, sort_keys=True)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:12]


def is_cached() -> bool:
    return (cache_dir("vm") / image_key() / "manifest.json").exists()


def ensure() -> dict[str, str]:
    """Paths of the cached kernel, initrd and base disk; builds them once (~5 min)."""
    key = image_key()
    target = cache_dir("vm") / key
    with cache_lock(f"vm-{key}"):   # bench, tests and `images prefetch` build it once
        if not (target / "manifest.json").exists():
            _build(target, key)
    return json.loads((target / "manifest.json").read_text())


def _build(target: Path, key: str) -> None:
    debootstrap = need_tool("debootstrap", "run scripts/system-deps.sh")
    for tool in ("mkfs.ext4", "qemu-img"):
        need_tool(tool, "run scripts/system-deps.sh (e2fsprogs, qemu-utils)")
    work = target.with_name(key + ".partial")
    _remove(work)
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    start = time.monotonic()
    log(f"building the VM image {key} with debootstrap (once; ~4-6 min, cached in {target})")
    # --cache-dir keeps the .debs: a rebuild after a changed input downloads nothing
    run([debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
         f"--cache-dir={cache_dir('vm', 'debs')}", SUITE, str(rootfs), DEBIAN_MIRROR],
        timeout=3600)
    _finish(rootfs)
    boot = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not boot:
        raise UserError(f"no kernel in {rootfs}/boot: delete {work} and rerun `stacklab vm up`")
    version = boot[-1].name.removeprefix("vmlinuz-")
    shutil.copy(rootfs / "boot" / f"vmlinuz-{version}", work / "vmlinuz")
    shutil.copy(rootfs / "boot" / f"initrd.img-{version}", work / "initrd.img")
    raw = work / "disk.raw"
    run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs), str(raw), DISK_SIZE],
        timeout=1800)
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")], timeout=1800)
    raw.unlink()
    shutil.rmtree(rootfs)
    manifest = {"key": key, "kernel": str(target / "vmlinuz"), "initrd": str(target / "initrd.img"),
                "disk": str(target / "disk.qcow2"), "cmdline": KERNEL_CMDLINE,
                "kernel_version": version, "packages": PACKAGES,
                "build_seconds": round(time.monotonic() - start, 1)}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    log(f"VM image {key} built in {manifest['build_seconds']:.0f} s")


def _remove(path: Path) -> None:
    """Delete an interrupted build: a killed debootstrap leaves /proc, /sys mounted in it."""
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        if line.split()[4].startswith(f"{path}/"):
            run(["umount", "-l", line.split()[4]], check=False)
    run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def _finish(rootfs: Path) -> None:
    """Make the rootfs a first-boot image: our config, no per-machine identity."""
    for rel, text in BAKED.items():
        path = rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # host keys come from cloud-init at first boot (or from the user-data)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    run(["chroot", str(rootfs), "update-initramfs", "-u", "-k", "all"], timeout=1800)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / junk).glob("*"):
            if item.is_file():
                item.unlink()
