"""matplotlib set-up shared by every part's plots (headless, same look)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(title: str, xlabel: str, ylabel: str, size: tuple[float, float] = (6.4, 4.0),
               source: str | None = None):
    """A figure with one axes; ``source`` (where the data came from) becomes a caption under it."""
    fig, ax = plt.subplots(figsize=size)
    if source:
        caption(fig, source)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def caption(fig, source: str) -> None:
    """Say under the plot which data it shows (the real data or a stand-in)."""
    fig.text(0.5, 0.01, f"data: {source}", ha="center", va="bottom", fontsize="small", color="0.3")


def data_label(data: dict) -> str:
    """A results file's data description in a few words, for a caption."""
    source = str(data.get("source", "unknown source"))
    return source if data.get("real_data", data.get("real", False)) else f"{source}: NOT the real data"


def save(fig, path: Path) -> Path:
    # leave the caption's strip free when there is one
    fig.tight_layout(rect=(0, 0.06, 1, 1) if fig.texts else (0, 0, 1, 1))
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
