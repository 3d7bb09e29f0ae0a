"""pyproject.toml ships every package and the data commands read, and pins what
requirements/<role>.txt pins."""

from __future__ import annotations

import re
import tomllib

import setuptools

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_python_package_is_listed():
    found = set(setuptools.find_packages(str(REPO), include=["stacklab*"]))
    listed = set(SETUPTOOLS["packages"])
    assert found <= listed, f"add {sorted(found - listed)} to pyproject.toml [tool.setuptools] packages"
    assert listed - found == set(SETUPTOOLS["package-dir"])


def test_shipped_data_directories_hold_what_commands_read():
    dirs = SETUPTOOLS["package-dir"]
    assert (REPO / dirs["stacklab.report.templates"] / "results.md.j2").is_file()
    assert (REPO / dirs["stacklab.federated.compute_package"] / "fedn.yaml").is_file()


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*([=<>!~].*)", line.split("#")[0])
        if match:
            out[match.group(1).lower()] = match.group(3).strip().replace(" ", "")
    return out


def test_extras_pin_what_the_role_images_pin():
    extras = PYPROJECT["project"]["optional-dependencies"]
    for role in ("ray", "fedn"):
        declared = _pins(extras[role])
        assert declared.pop("torch") == "==2.13.0"
        image = _pins((REPO / "requirements" / f"{role}.txt").read_text().splitlines())
        image |= _pins((REPO / "requirements" / "s3.txt").read_text().splitlines()) if role == "fedn" else {}
        for name, spec in declared.items():
            assert image.get(name) == spec, f"{name}: pyproject {spec}, requirements/{role}.txt {image.get(name)}"
