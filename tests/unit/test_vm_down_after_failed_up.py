"""`vm down` removes exactly what a failed `vm up` made: the namespace with its
bridge and taps, the host veth, the VMs' processes and directories, the state.
Real namespaces and links (root), QEMU and the image replaced by stand-ins."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from stacklab.core.errors import UserError
from stacklab.vm import cluster, image, machine, network


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_down_after_a_failed_up_removes_what_up_made(tmp_path, monkeypatch):
    tag = uuid.uuid4().hex[:6]
    monkeypatch.setattr(cluster, "STATE_DIR", tmp_path / "vm")
    monkeypatch.setattr(cluster, "STATE_FILE", tmp_path / "vm" / "state.json")
    monkeypatch.setattr(network, "NETNS", f"sltest-vm-{tag}")
    monkeypatch.setattr(network, "HOST_VETH", f"sltv{tag}")
    monkeypatch.setattr(network, "SUBNET", "203.0.113.0/24")  # clear of a real `vm up`
    monkeypatch.setattr(image, "ensure", lambda: {"key": "fake", "kernel": "k", "initrd": "i",
                                                  "disk": "d", "cmdline": ""})
    monkeypatch.setattr(image, "is_cached", lambda: True)
    monkeypatch.setattr(machine, "choose_accel", lambda *a: ("tcg", "accelerator: TCG (test)"))
    started: list[subprocess.Popen] = []

    def fake_start(vm, *args):
        if vm["name"].endswith("2"):
            raise UserError("QEMU of the second VM failed (test)")
        # a process whose command line names the VM's directory, like QEMU's
        proc = subprocess.Popen(["sh", "-c", "sleep 300", vm["dir"]])
        started.append(proc)
        return proc.pid

    monkeypatch.setattr(machine, "start", fake_start)
    with pytest.raises(UserError, match="second VM"):
        cluster.up(nodes=3, memory="1G")
    state = cluster.load_state()
    assert state and not state["ready"] and [v["name"] for v in state["vms"]] == [
        "stacklab-vm1", "stacklab-vm2"]
    assert f"sltv{tag}" in _links()
    with pytest.raises(UserError, match="vm down"):
        cluster.up(nodes=3, memory="1G")  # a half-made cluster is never built upon
    removed = cluster.down()
    assert f"netns sltest-vm-{tag} (bridge, taps)" in removed
    assert any(r.startswith("qemu stacklab-vm1") for r in removed)
    started[0].wait(timeout=10)
    assert f"sltv{tag}" not in _links()
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"sltest-vm-{tag}" not in ns
    assert not (tmp_path / "vm").exists() and cluster.load_state() is None
    assert cluster.down() == []
