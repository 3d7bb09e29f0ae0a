"""Run naming in Ray storage and the Gloo interface choice (no Ray started)."""

from __future__ import annotations

import pytest

from stacklab.core import ray_session
from stacklab.core.errors import UserError
from stacklab.mnist import gloo_net


def test_fresh_runs_get_new_names_and_resume_picks_newest_resumable(tmp_path):
    fresh = ray_session.run_name("mnist", str(tmp_path), None, resume=False)
    assert fresh.startswith("mnist-")
    assert ray_session.run_name("mnist", str(tmp_path), "mine", resume=False) == "mine"
    for name in ("mnist-20250101-000000", "mnist-20250102-000000", "mnist-20250103-000000", "other-1"):
        (tmp_path / name).mkdir()
    (tmp_path / "mnist-20250101-000000" / "snap").touch()
    (tmp_path / "mnist-20250102-000000" / "snap").touch()  # the 03 run never checkpointed

    def done(run: str) -> bool:
        return ray_session.exists_in_storage(str(tmp_path), f"{run}/snap")

    assert ray_session.run_name("mnist", str(tmp_path), None, True, done) == "mnist-20250102-000000"
    assert ray_session.run_name("mnist", str(tmp_path), "mnist-20250101-000000", True, done) == "mnist-20250101-000000"
    with pytest.raises(UserError, match="no earlier run"):
        ray_session.run_name("tune", str(tmp_path), None, True, done)


def test_storage_root_local_and_uri(tmp_path, monkeypatch):
    monkeypatch.delenv("STACKLAB_STORAGE", raising=False)
    assert ray_session.storage_root("s3://bucket/x", tmp_path) == "s3://bucket/x"
    root = ray_session.storage_root(None, tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and root == str((tmp_path / "a" / "b").resolve())


def test_storage_defaults_to_the_stacks_storage(tmp_path, monkeypatch):
    # a job submitted by hand inside a Ray head (no --storage) uses the stack's S3
    monkeypatch.setenv("STACKLAB_STORAGE", "s3://stacklab/ray_tuning")
    assert ray_session.storage_root(None, tmp_path / "local") == "s3://stacklab/ray_tuning"
    assert not (tmp_path / "local").exists()
    assert ray_session.storage_root(str(tmp_path / "given"), tmp_path) == str(tmp_path / "given")


def test_gloo_interface(monkeypatch):
    assert gloo_net.interface_for_ip("127.0.0.1") == "lo"
    assert gloo_net.interface_for_ip("203.0.113.254") is None
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    assert gloo_net.runtime_env(None) == {"worker_process_setup_hook": gloo_net.SETUP_HOOK}
    assert gloo_net.runtime_env("eth1") == {"env_vars": {"GLOO_SOCKET_IFNAME": "eth1"}}
