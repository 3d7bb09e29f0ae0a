"""`vm power-off N` cuts a VM's power; `vm power-on N` boots it from its own disk.

Real processes stand in for QEMU (their command line names the VM's directory,
as QEMU's does); the guest agent and the Swarm check are stand-ins."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from stacklab.core.errors import UserError
from stacklab.vm import cluster, image, machine


@pytest.fixture
def two_vms(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "STATE_DIR", tmp_path / "vm")
    monkeypatch.setattr(cluster, "STATE_FILE", tmp_path / "vm" / "state.json")
    procs, vms = [], []
    for index in (1, 2):
        directory = tmp_path / "vm" / cluster.vm_name(index)
        directory.mkdir(parents=True)
        # ignores SIGTERM, as a guest mid-shutdown would keep running: only a kill stops it
        proc = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & wait", str(directory)])
        procs.append(proc)
        vms.append({"name": cluster.vm_name(index), "dir": str(directory), "pid": proc.pid,
                    "qga": str(directory / "qga.sock"), "console": str(directory / "console.log"),
                    "labels": {}})
    cluster._save({"ready": True, "accel": "tcg", "cpus": 1, "memory_mib": 2048, "vms": vms,
                   "boot_id": "x", "dirs": []})
    monkeypatch.setattr(image, "ensure", lambda: {"disk": "base.qcow2"})
    monkeypatch.setattr(cluster, "Agent", lambda path: SimpleNamespace(ping=lambda timeout: True))
    monkeypatch.setattr(cluster, "swarm_ready", lambda state: True)
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_power_off_kills_only_that_vm_and_says_how_to_boot_it(two_vms):
    vms = cluster.load_state()["vms"]
    cluster.power_off(2)
    assert not machine.is_ours(vms[1]["pid"], vms[1]["dir"])     # killed, TERM trap or not
    assert machine.is_ours(vms[0]["pid"], vms[0]["dir"])         # the other VM runs on
    with pytest.raises(UserError, match=r"stacklab-vm2 is powered off: `stacklab vm power-on 2`"):
        cluster.vm_exec(2, ["true"])
    with pytest.raises(UserError, match="already powered off"):
        cluster.power_off(2)


def test_power_on_boots_the_vms_own_disk(two_vms, monkeypatch):
    with pytest.raises(UserError, match="not powered off"):
        cluster.power_on(2)
    cluster.power_off(2)
    booted = []

    def fake_start(vm, img, accel, cpus, memory, fresh_disk=True):
        booted.append((vm["name"], accel, memory, fresh_disk))
        proc = subprocess.Popen(["sh", "-c", "sleep 300", vm["dir"]])
        two_vms.append(proc)
        return proc.pid

    monkeypatch.setattr(machine, "start", fake_start)
    assert cluster.power_on(2) >= 0
    assert booted == [("stacklab-vm2", "tcg", "2048M", False)]
    state = cluster.load_state()
    assert not state["vms"][1]["powered_off"] and state["vms"][1]["pid"] == two_vms[-1].pid


def test_start_keeps_an_existing_disk_unless_fresh(tmp_path, monkeypatch):
    """A fresh boot makes a new overlay; a power-on boots the one the VM wrote to."""
    made = []
    monkeypatch.setattr(machine, "need_tool", lambda *a: "qemu")
    monkeypatch.setattr(machine, "run", lambda cmd, **kw: made.append(cmd))
    monkeypatch.setattr(machine.subprocess, "Popen",
                        lambda *a, **kw: SimpleNamespace(pid=1, poll=lambda: 0))
    vm = {"name": "v", "dir": str(tmp_path), "tap": "t", "mac": "m", "qga": "q", "console": "c"}
    img = {"disk": "base.qcow2", "kernel": "k", "initrd": "i", "cmdline": ""}
    machine.start(vm, img, "tcg", 1, "1024M")
    assert made and made[0][:2] == ["qemu-img", "create"]
    (tmp_path / "disk.qcow2").write_bytes(b"written by the guest")
    made.clear()
    machine.start(vm, img, "tcg", 1, "1024M", fresh_disk=False)
    assert made == [] and (tmp_path / "disk.qcow2").read_bytes() == b"written by the guest"


def test_a_cmdline_that_reads_back_empty_for_a_moment_is_still_the_vm(two_vms, monkeypatch):
    # seen live: a busy QEMU's /proc/PID/cmdline read b"" once and `vm up` declared it exited
    vm = cluster.load_state()["vms"][0]
    real_read = machine.Path.read_bytes
    reads = []

    def flaky(self):
        reads.append(self)
        return b"" if len(reads) == 1 else real_read(self)

    monkeypatch.setattr(machine.Path, "read_bytes", flaky)
    assert machine.is_ours(vm["pid"], vm["dir"])
    assert len(reads) == 2
    assert not machine.is_ours(vm["pid"], "/some/other/vm")       # a recycled pid stays not ours
    # empty every time (a kernel thread, a zombie): only a process named qemu is a VM
    monkeypatch.setattr(machine.Path, "read_bytes", lambda self: b"")
    monkeypatch.setattr(machine.time, "sleep", lambda seconds: None)
    assert not machine.is_ours(vm["pid"], vm["dir"])             # this stand-in is `sh`
