"""The commands that need neither Ray nor torch do not import them (each costs seconds
of start-up): `stacklab --help`, `baseline`, `fl status`, `report --stored`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

# command -> the code its start-up runs: the CLI's parser, then the modules its function imports
COMMANDS = {
    "--help": "import stacklab.cli; stacklab.cli.build_parser()",
    "baseline": "import stacklab.cli; stacklab.cli.build_parser(); import stacklab.tabular.baseline",
    "fl status": "import stacklab.cli; stacklab.cli.build_parser(); "
                 "import stacklab.federated.config, stacklab.federated.local.federation",
    "report --stored": "import stacklab.cli; stacklab.cli.build_parser(); import stacklab.report.pages",
}
HEAVY = ("ray", "torch", "fedn")


def loaded(code: str, names: tuple[str, ...]) -> list[str]:
    probe = f"import sys; {code}; print(' '.join(m for m in {names!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("command", COMMANDS)
def test_no_ray_torch_or_fedn(command):
    assert loaded(COMMANDS[command], HEAVY) == []


def test_the_parser_alone_loads_no_data_stack():
    assert loaded(COMMANDS["--help"], ("sklearn", "numpy", "pandas", "jinja2")) == []


def test_the_probe_sees_an_import():
    assert loaded("import stacklab.tabular.search; stacklab.tabular.search.build_scheduler('fifo', 1)", HEAVY) == ["ray"]
