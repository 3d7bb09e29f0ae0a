"""The one table of parts points at things that exist, and its readers agree with it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from stacklab import parts
from stacklab.cluster import deploy, images
from stacklab.report import pages
from tests.conftest import REPO


@pytest.mark.parametrize("part", parts.PARTS, ids=lambda p: p.name)
def test_each_row_points_at_real_files(part):
    if part.stack_dir:
        assert (REPO / part.stack_dir).is_dir(), part.stack_dir
    for name in part.stack_files:
        assert (REPO / name).is_file(), name
    if part.ray_entry:
        assert (REPO / part.stack_dir / part.ray_entry).is_file(), part.ray_entry
    if part.lab_step:
        spec = importlib.util.find_spec(part.lab_step)
        tree = ast.parse(Path(spec.origin).read_text())
        assert "lab_step" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, part.lab_step


def test_report_keys_are_unique_across_parts():
    keys = [key for part in parts.PARTS for key in part.sources]
    assert len(keys) == len(set(keys))


def test_readers_take_the_table():
    assert deploy.PARTS["ray_train"] == ["swarm/ray-cluster.yml", "ray_train/docker-stack.yml"]
    assert deploy.RAY_ENTRY == {"ray_tuning": "tune.py", "ray_train": "train.py"}
    assert pages.SOURCES["fl"][0] == "federated/fl.json"
    assert images.KIT_DIRS == ["stacklab", "tuning", "ray_tuning", "ray_train", "federated", "swarm"]
    from stacklab import lab

    assert [name for name, _ in lab.LAB_STEPS] == ["tuning", "ray_tuning", "ray_train", "federated", "report"]
