"""`stacklab report`: results JSON -> docs/results.md and docs/answers.md.

Every figure in those pages is rendered by a filter of this module from a
JSON file that a named command wrote. ``collect`` copies those files into
docs/data/ (so the docs can be rebuilt and checked from what is committed),
``render`` fills docs/templates/*.j2 from docs/data/ only.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jinja2

from stacklab import parts
from stacklab.core import kit
from stacklab.core.errors import UserError
from stacklab.core.results import DEFAULT_RESULTS_DIR, write_atomic

# key -> (file under the results root, the command that writes it), from the table of parts.
SOURCES: dict[str, tuple[str, str]] = parts.report_sources()
DOCS = Path("docs")
TEMPLATES = ("results.md", "answers.md")


def collect(results_root: Path = DEFAULT_RESULTS_DIR, docs: Path = DOCS) -> list[str]:
    """Copy the latest results (JSON + PNG) into docs/data and docs/img; return keys found.

    Every source is read and checked before anything is copied, so one corrupt
    file leaves docs/data as it was.
    """
    found: dict[str, tuple[Path, str]] = {}
    for key, (relative, command) in SOURCES.items():
        path = Path(results_root) / relative
        if path.is_file():
            found[key] = (path, _read_checked(path, f"rerun `{command}`")[1])
    (docs / "data").mkdir(parents=True, exist_ok=True)
    (docs / "img").mkdir(parents=True, exist_ok=True)
    copied: set[Path] = set()
    for key, (path, text) in found.items():
        write_atomic(docs / "data" / f"{key}.json", text)
        # a directory's plots go once, under its first key (fl.json and dashboard.json share one)
        if path.parent not in copied:
            copied.add(path.parent)
            for png in sorted(path.parent.glob("*.png")):
                shutil.copyfile(png, docs / "img" / f"{key}_{png.name}")
    return list(found)


def _read_checked(path: Path, fix: str) -> tuple[dict[str, Any], str]:
    """A results file's object and text, or one UserError line saying which file and what to do."""
    try:
        text = path.read_text()
        value = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({type(exc).__name__}): {fix}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} holds a JSON {type(value).__name__}, not an object: {fix}")
    return value, text


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

    def signed(self, value: float) -> str:
        return self._keep(f"{float(value):+.4f}")

    def ratio(self, value: float) -> str:
        return self._keep(f"{float(value):.2f}")

    def num(self, value: Any) -> str:
        return self._keep(str(value))


def load_data(docs: Path = DOCS) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, (_relative, command) in SOURCES.items():
        path = docs / "data" / f"{key}.json"
        if path.is_file():
            data[key] = _read_checked(path, f"rerun `{command}` and `stacklab report`, or restore it from git")[0]
    return data


def kit_templates() -> Path:
    """The kit's own templates: shipped in the wheel, docs/templates in a checkout."""
    return kit.shipped("stacklab.report.templates", "docs/templates")


def render(docs: Path = DOCS, templates: Path | None = None) -> tuple[dict[str, str], Figures]:
    """Render every template from docs/data; return {name: text} and the figures used."""
    if templates is None:
        # docs/ elsewhere (e.g. --docs /tmp/x) still renders with the repository's templates
        templates = docs / "templates" if (docs / "templates").is_dir() else kit_templates()
    if not templates.is_dir():
        raise UserError(f"no templates at {templates}: run stacklab report from the kit's checkout "
                        "or install the stacklab wheel")
    figures = Figures()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    for name in ("acc", "signed", "pct", "secs", "ratio", "num"):
        env.filters[name] = getattr(figures, name)
    context = {"data": load_data(docs), "sources": {k: {"file": f, "command": c} for k, (f, c) in SOURCES.items()},
               "img": lambda key, png: f"img/{key}_{png}",
               "has_img": lambda key, png: (docs / "img" / f"{key}_{png}").is_file()}
    pages = {}
    for name in TEMPLATES:
        try:
            # Sections without a plot leave blank lines behind: keep at most one.
            pages[name] = re.sub(r"\n{3,}", "\n\n", env.get_template(f"{name}.j2").render(**context))
        except jinja2.UndefinedError as exc:
            raise UserError(f"docs/templates/{name}.j2 uses a figure the results lack ({exc.message}): "
                            "rerun the part that writes it, then stacklab report") from None
        except (TypeError, ValueError, ZeroDivisionError, KeyError) as exc:
            raise UserError(f"docs/data holds a figure of an unexpected form for docs/templates/{name}.j2 "
                            f"({type(exc).__name__}: {exc}): rerun the part that writes it, then stacklab report"
                            ) from None
    return pages, figures


def build(results_root: Path = DEFAULT_RESULTS_DIR, docs: Path = DOCS, stored_only: bool = False) -> list[Path]:
    """Collect results/ into docs/ (unless stored_only), draw the cross-part plots, render the pages."""
    found: list[str] = []
    if not stored_only:
        from stacklab.report.plots import draw

        if not Path(results_root).is_dir():
            raise UserError(f"no results directory {results_root}: run the parts first, or pass --results DIR")
        found = collect(results_root, docs)
        draw(load_data(docs), docs / "img")
    pages, _ = render(docs)
    written = [write_atomic(docs / name, text) for name, text in pages.items()]
    if not stored_only:
        print(f"report: results found for {', '.join(found) or 'nothing'}")
    return written


def lab_step(results_root: Path) -> dict[str, Any]:
    """`stacklab lab`'s report step: the lab's own results rendered into results/report/.

    Never touches the committed docs/: a small lab run must not replace the
    measured numbers there (that takes an explicit `stacklab report`).
    """
    out = Path(results_root) / "report"
    build(results_root, out)  # no templates under out: the repository's are used
    measured = sorted(load_data(out))
    return {"part": "report", "metric": "sources rendered", "value": f"{len(measured)} of {len(SOURCES)}",
            "results": str(out / "results.md")}
