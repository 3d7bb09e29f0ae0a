"""`stacklab ray submit`: what goes into the head as the job's working dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stacklab.cluster import deploy


def test_submit_sends_the_part_scripts_and_the_users_data(tmp_path: Path, monkeypatch) -> None:
    part = tmp_path / "ray_tuning"
    (part / "data").mkdir(parents=True)
    (part / "tune.py").write_text("print('tune')\n")
    (part / "data" / "train.csv").write_text("Id,Cover_Type\n1,2\n")
    (part / "notes.md").write_text("not sent\n")
    calls: list[list[str]] = []

    def fake_run(cmd, **_kwargs):
        calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(deploy, "REPO", tmp_path)
    monkeypatch.setattr(deploy, "run", fake_run)
    monkeypatch.setattr(deploy, "out", lambda cmd, **_: "s3://stacklab/ray_tuning")
    monkeypatch.setattr(deploy, "head_container", lambda part: "head1")
    monkeypatch.setattr(deploy, "manager", lambda: None)
    info = deploy.submit("ray_tuning", ["--smoke-test"], follow=False)

    copies = {(c[-2], c[-1]) for c in calls if "cp" in c}
    workdir = f"/tmp/submit/{info['job_id']}"
    assert copies == {(str(part / "tune.py"), f"head1:{workdir}/tune.py"),
                      (str(part / "data"), f"head1:{workdir}/data")}
    job = next(c for c in calls if "job" in c and "submit" in c)
    assert job[job.index("--working-dir") + 1] == workdir
    assert job[job.index("--") + 1:][:3] == ["python", "tune.py", "--smoke-test"]
