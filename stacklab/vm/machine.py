"""One VM's QEMU process: accelerator choice, start, stop.

KVM where it really boots the VM kernel, TCG (software emulation) otherwise.
"/dev/kvm exists" is not enough: on some hosts it is a paravirtual KVM on
which Debian's kernel hangs in its decompressor, so the probe is a bounded
boot of the kernel alone (no disk, panic=-1 -no-reboot) that must print
"Linux version" on its serial console within PROBE_SECONDS. Whatever the
outcome, one line says which accelerator runs and why; nothing waits forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from stacklab.cluster.local import pid_alive
from stacklab.cluster.shell import need_tool, run
from stacklab.core.errors import UserError
from stacklab.vm.network import in_netns

QEMU = "qemu-system-x86_64"
PROBE_SECONDS = 20
ACCELS = {
    "kvm": ["-accel", "kvm", "-cpu", "host"],
    # a big translation cache: the guest kernel + dockerd + python re-translate less
    "tcg": ["-accel", "tcg,tb-size=512", "-cpu", "max"],
}


def kvm_boots(kernel: str, workdir: Path, seconds: float = PROBE_SECONDS) -> bool:
    """Does a KVM guest get as far as the kernel's first console line?"""
    console = workdir / "kvm-probe.log"
    console.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [QEMU, *ACCELS["kvm"], "-m", "256", "-nodefaults", "-display", "none", "-no-reboot",
         "-kernel", kernel, "-append", "console=ttyS0 panic=-1", "-serial", f"file:{console}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    booted = False
    while time.monotonic() < deadline and proc.poll() is None:
        if console.exists() and b"Linux version" in console.read_bytes():
            booted = True
            break
        time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return booted or (console.exists() and b"Linux version" in console.read_bytes())


def choose_accel(kernel: str, workdir: Path, wanted: str = "auto") -> tuple[str, str]:
    """("kvm" | "tcg", the one line that says which and why)."""
    if wanted == "tcg":
        return "tcg", "accelerator: TCG (software emulation), as asked"
    usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
    if usable and kvm_boots(kernel, workdir):
        return "kvm", "accelerator: KVM (the VM kernel booted under /dev/kvm)"
    if wanted == "kvm":
        raise UserError("--accel kvm: " + ("/dev/kvm did not boot the VM kernel within "
                        f"{PROBE_SECONDS} s" if usable else "no usable /dev/kvm")
                        + ": use --accel auto (TCG fallback)")
    why = (f"/dev/kvm did not boot the VM kernel within {PROBE_SECONDS} s" if usable
           else "no usable /dev/kvm")
    return "tcg", f"accelerator: TCG (software emulation, several times slower): {why}"


def start(vm: dict[str, Any], image: dict[str, Any], accel: str, cpus: int, memory: str,
          fresh_disk: bool = True) -> int:
    """Boot one VM inside the private namespace; returns QEMU's pid (not waited for).

    fresh_disk=False boots the disk the VM already has (a power-on after a
    power cut: its Swarm membership, images and volumes are on it)."""
    qemu = need_tool(QEMU, "run scripts/system-deps.sh (qemu-system-x86)")
    directory = Path(vm["dir"])
    if fresh_disk or not (directory / "disk.qcow2").exists():
        # a copy-on-write overlay: the cached base image is never written
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image["disk"],
             str(directory / "disk.qcow2")])
    cmd = [qemu, "-name", vm["name"], *ACCELS[accel], "-smp", str(cpus), "-m", memory,
           "-nodefaults", "-no-user-config", "-display", "none",
           "-kernel", image["kernel"], "-initrd", image["initrd"], "-append", image["cmdline"],
           "-drive", f"file={directory / 'disk.qcow2'},if=virtio,format=qcow2,discard=unmap",
           "-drive", f"file={directory / 'seed.iso'},if=virtio,format=raw,readonly=on",
           "-netdev", f"tap,id=net0,ifname={vm['tap']},script=no,downscript=no",
           "-device", f"virtio-net-pci,netdev=net0,mac={vm['mac']}",
           # entropy: a starved guest stalls on its first TLS/SSH keys
           "-device", "virtio-rng-pci",
           "-chardev", f"socket,id=qga0,path={vm['qga']},server=on,wait=off",
           "-device", "virtio-serial-pci",
           "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
           "-serial", f"file:{vm['console']}", "-pidfile", str(directory / "qemu.pid")]
    with open(directory / "qemu.log", "ab") as log_file:
        # `ip netns exec` execs QEMU in place: the pid is QEMU's own
        proc = subprocess.Popen(in_netns(cmd), stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    # until the child has exec'd, its command line is ours: is_ours() would call it dead
    deadline = time.monotonic() + 10
    while not is_ours(proc.pid, vm["dir"]) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.pid


def is_ours(pid: int | None, directory: str) -> bool:
    """Alive and still the QEMU of this VM (a recycled pid is left alone)."""
    for _ in range(5):
        if not pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        # a busy QEMU's cmdline can read back empty for a moment (the kernel could
        # not get at its memory): that is not a VM that exited; a vm up died of it
        if cmdline:
            return directory in cmdline.decode(errors="replace")
        time.sleep(0.2)
    # still empty: a zombie or a kernel thread on a recycled pid has none either;
    # comm needs no access to the process's memory and names QEMU's binary
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("qemu")
    except OSError:
        return False


def stop(vms: list[dict[str, Any]], grace: float = 10) -> list[str]:
    """SIGTERM every VM's QEMU at once (the disks are throw-away), SIGKILL stragglers."""
    pids = {vm["name"]: vm["pid"] for vm in vms if is_ours(vm.get("pid"), vm["dir"])}
    for pid in pids.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(pid_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
    for pid in pids.values():
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    return [f"qemu {name} (pid {pid})" for name, pid in pids.items()]


def console_tail(vm: dict[str, Any], lines: int = 1) -> str:
    path = Path(vm["console"])
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty console)"
