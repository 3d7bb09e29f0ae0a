"""Where results go and how they are written without ever corrupting old ones."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from stacklab.core.errors import UserError

DEFAULT_RESULTS_DIR = Path(os.environ.get("STACKLAB_RESULTS", "results"))


def part_dir(out: str | Path | None, part: str) -> Path:
    """Results directory of one part (``results/<part>`` unless ``out`` is given)."""
    path = Path(out) if out is not None else DEFAULT_RESULTS_DIR / part
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create results directory {path}: {exc.strerror}; pass --out DIR") from None
    return path


def write_atomic(path: Path, text: str) -> Path:
    """Write text to path via a temp file + rename: a crash leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data: Any) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_state(path: Path) -> dict[str, Any] | None:
    """A state file written by write_json, or None when nothing was started yet."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot's id: a state file recorded under another boot names dead processes."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def from_earlier_boot(state: dict[str, Any]) -> bool:
    """True when `state` was recorded before the machine last booted (its pids mean nothing now)."""
    return bool(state.get("boot_id")) and state["boot_id"] != boot_id()


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"no results at {path}: run the part that writes it first") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}): delete it and rerun") from None


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A GitHub-style Markdown table; floats shown with 4 significant decimals."""
    if not rows:
        return "_no rows_\n"
    columns = columns or list(rows[0])

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
