"""`stacklab report`: results JSON -> docs/results.md and docs/answers.md.

Every figure in those pages is rendered by a filter of this module from a
JSON file that a named command wrote. ``collect`` copies those files into
docs/data/ (so the docs can be rebuilt and checked from what is committed),
``render`` fills docs/templates/*.j2 from docs/data/ only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jinja2

from stacklab.errors import UserError
from stacklab.results import DEFAULT_RESULTS_DIR, write_atomic

# key -> (file under the results root, the command that writes it)
SOURCES: dict[str, tuple[str, str]] = {
    "baseline": ("tuning/baseline.json", "stacklab baseline"),
    "tune": ("ray_tuning/tune.json", "stacklab tune"),
    "train": ("ray_train/train.json", "stacklab train"),
    "fl": ("federated/fl.json", "stacklab fl up && stacklab fl run"),
    "fl_noniid": ("federated_noniid/fl.json",
                  "stacklab fl up --non-iid && stacklab fl run --out results/federated_noniid"),
    "p1_p2": ("bench/p1_p2.json", "python bench/p1_p2_tune.py"),
    "p3": ("bench/p3.json", "python bench/p3_ray_train_vs_ddp.py"),
    "p4": ("bench/p4.json", "python bench/p4_fl_round_overhead.py"),
    "p5_p6": ("bench/p5_p6.json", "python bench/p5_p6_swarm.py"),
    "scaling": ("cluster/scaling.json", "python bench/p5_p6_swarm.py"),
}
DOCS = Path("docs")
TEMPLATES = ("results.md", "answers.md")


def collect(results_root: Path = DEFAULT_RESULTS_DIR, docs: Path = DOCS) -> list[str]:
    """Copy the latest results (JSON + PNG) into docs/data and docs/img; return keys found."""
    found = []
    (docs / "data").mkdir(parents=True, exist_ok=True)
    (docs / "img").mkdir(parents=True, exist_ok=True)
    for key, (relative, _command) in SOURCES.items():
        path = Path(results_root) / relative
        if not path.is_file():
            continue
        try:
            json.loads(path.read_text())
        except json.JSONDecodeError:
            raise UserError(f"{path} is not valid JSON: rerun `{SOURCES[key][1]}`") from None
        write_atomic(docs / "data" / f"{key}.json", path.read_text())
        for png in sorted(path.parent.glob("*.png")):
            shutil.copyfile(png, docs / "img" / f"{key}_{png.name}")
        found.append(key)
    return found


class Figures:
    """Jinja filters that format numbers; each formatted value is recorded for the provenance test."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def _keep(self, text: str) -> str:
        self.rendered.append(text)
        return text

    def acc(self, value: float) -> str:
        return self._keep(f"{float(value):.4f}")

    def pct(self, value: float) -> str:
        return self._keep(f"{100 * float(value):.1f}%")

    def secs(self, value: float) -> str:
        return self._keep(f"{float(value):.1f} s")

    def ratio(self, value: float) -> str:
        return self._keep(f"{float(value):.2f}")

    def num(self, value: Any) -> str:
        return self._keep(str(value))


def load_data(docs: Path = DOCS) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in SOURCES:
        path = docs / "data" / f"{key}.json"
        if path.is_file():
            data[key] = json.loads(path.read_text())
    return data


def render(docs: Path = DOCS, templates: Path | None = None) -> tuple[dict[str, str], Figures]:
    """Render every template from docs/data; return {name: text} and the figures used."""
    templates = templates or docs / "templates"
    if not templates.is_dir():
        raise UserError(f"no templates at {templates}: run stacklab report from the repository root")
    figures = Figures()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    for name in ("acc", "pct", "secs", "ratio", "num"):
        env.filters[name] = getattr(figures, name)
    context = {"data": load_data(docs), "sources": {k: {"file": f, "command": c} for k, (f, c) in SOURCES.items()},
               "img": lambda key, png: f"img/{key}_{png}"}
    pages = {}
    for name in TEMPLATES:
        try:
            pages[name] = env.get_template(f"{name}.j2").render(**context)
        except jinja2.UndefinedError as exc:
            raise UserError(f"docs/templates/{name}.j2 uses a figure the results lack ({exc.message}): "
                            "rerun the part that writes it, then stacklab report") from None
    return pages, figures


def build(results_root: Path = DEFAULT_RESULTS_DIR, docs: Path = DOCS, stored_only: bool = False) -> list[Path]:
    found = [] if stored_only else collect(results_root, docs)
    pages, _ = render(docs)
    written = [write_atomic(docs / name, text) for name, text in pages.items()]
    if not stored_only:
        print(f"report: results found for {', '.join(found) or 'nothing'}")
    return written
