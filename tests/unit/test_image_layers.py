"""The role images' layer chains and requirement files: what each image may carry."""

from __future__ import annotations

import re

from stacklab.cluster import images
from tests.conftest import REPO


def chain(name: str) -> list[str]:
    names = []
    while name in images.LAYERS:
        names.append(name)
        name = images.LAYERS[name].parent
    return [*names, name]


def wheels(name: str) -> set[str]:
    """Every project a requirements file names, -r includes followed."""
    found = set()
    for line in (REPO / "requirements" / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found |= wheels(line[3:].strip())
        elif line:
            found.add(re.split(r"[\[<>=! ]", line)[0].lower())
    return found


def installed(role: str) -> set[str]:
    projects = set()
    for name in chain(role)[:-1]:
        args = images.LAYERS[name].pip_args.split()
        for i, arg in enumerate(args):
            if arg.startswith("/requirements/"):
                projects |= wheels(arg.removeprefix("/requirements/"))
            elif arg != "-r" and (i == 0 or args[i - 1] != "-r"):
                projects.add(arg.split("==")[0])
    return projects


def test_chains_share_their_lower_layers():
    assert chain("ray") == ["ray", "torch", "common", "base"]
    assert chain("fedn") == ["fedn", "torch", "common", "base"]
    assert chain("s3") == ["s3", "common", "base"]
    assert chain("postgres") == ["postgres", "base-postgres"]
    assert set(images.ROLES) <= set(images.LAYERS)


def test_each_role_image_carries_only_its_wheels():
    dev_tools = {"pytest", "ruff", "configobj", "jsonpatch"}
    for role in images.ROLES:
        assert not dev_tools & installed(role), role
    assert "ray" in installed("ray") and "fedn" not in installed("ray")
    assert "fedn" in installed("fedn") and "ray" not in installed("fedn")
    assert "torch" not in installed("s3") | installed("postgres")
    assert "psycopg2-binary" in installed("postgres")
    assert "postgresql-15" in images.DEBOOTSTRAP_PACKAGES["base-postgres"]
    assert "postgresql" not in images.DEBOOTSTRAP_PACKAGES["base"]


def test_the_dev_venv_is_the_union_plus_dev_tools():
    union = wheels("ray.txt") | wheels("fedn.txt") | wheels("s3.txt") | wheels("dev.txt")
    top = set()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith("-r "):
            top |= wheels(line[3:].removeprefix("requirements/"))
    assert top == union and {"pytest", "ruff"} <= top


def test_a_code_change_moves_only_the_kit_tag():
    builder = images.Builder(None)
    deps = {role: builder.ref(role) for role in images.ROLES}
    assert images.kit_tag(deps) == images.kit_tag(deps)
    assert images.kit_tag(deps, {"swarm/x.txt": "1"}) != images.kit_tag(deps)
    # the wheels images' keys do not depend on the kit files
    assert {role: builder.ref(role) for role in images.ROLES} == deps
    assert images.role_image("ray", "t1", "192.0.2.11:5000") == "192.0.2.11:5000/stacklab-ray:t1"
    assert images.role_image("ray", "t1") == "stacklab-ray:t1"
