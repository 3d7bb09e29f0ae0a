"""Comparison plots that no single part can draw: they need two parts' results.

Drawn by `stacklab report` from docs/data (the same dicts the pages render
from) into docs/img/report_<name>.png; each is skipped while its inputs are
missing. The parts' own plots are copied as they are by report.collect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from stacklab.core.plots import new_figure, save


def draw(data: dict[str, Any], img_dir: Path) -> list[Path]:
    img_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, needs, plot in (
        ("tuned_vs_default", ("tune",), _tuned_vs_default),
        ("train_scaling", ("train", "train_1w"), _train_scaling),
        ("fl_iid_vs_noniid", ("fl", "fl_noniid"), _fl_iid_vs_noniid),
        ("tune_scaling", ("scaling",), _tune_scaling),
    ):
        if all(key in data for key in needs) and (name != "tune_scaling" or _scaling_known(data["scaling"])):
            drawn.append(save(plot(data), img_dir / f"report_{name}.png"))
    return drawn


def _tuned_vs_default(data: dict[str, Any]):
    tune = data["tune"]
    folds = tune["settings"]["folds"]
    bars = []
    if "baseline" in data:
        bars.append((f"default\n(baseline, {data['baseline']['folds']}-fold)", data["baseline"]["mean_accuracy"]))
    bars += [(f"default\n(tune job, {folds}-fold)", tune["default"]["accuracy"]),
             (f"tuned\n({tune['settings']['searcher']}+{tune['settings']['scheduler']}, {folds}-fold)",
              tune["best"]["accuracy"])]
    fig, ax = new_figure("RandomForest: CV accuracy, default vs tuned", "", "mean CV accuracy")
    colors = ["tab:gray"] * (len(bars) - 1) + ["tab:green"]
    ax.bar(range(len(bars)), [b[1] for b in bars], color=colors)
    ax.set_xticks(range(len(bars)), [b[0] for b in bars])
    low = min(b[1] for b in bars)
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(b[1] for b in bars) + 0.02))
    for i, (_label, value) in enumerate(bars):
        ax.annotate(f"{value:.4f}", (i, value), ha="center", va="bottom")
    return fig


def _train_scaling(data: dict[str, Any]):
    fig, ax = new_figure("Ray Train: throughput per epoch", "epoch", "training samples/s")
    for key in ("train_1w", "train"):
        run = data[key]
        epochs = run["epochs"]
        ax.plot([e["epoch"] for e in epochs], [e["samples_per_s"] for e in epochs], marker="o",
                label=f"{run['config']['workers']} worker(s), final test acc {run['final']['test_accuracy']:.4f}")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return fig


def _fl_iid_vs_noniid(data: dict[str, Any]):
    fig, ax = new_figure("FEDn: mean client accuracy per round", "round of the session",
                         "mean validation accuracy (own test share)")
    for key, label in (("fl", "IID"), ("fl_noniid", "non-IID")):
        run = data[key]
        rounds = [r for r in run["rounds"] if r.get("mean_accuracy") is not None]
        ax.plot(range(1, len(rounds) + 1), [r["mean_accuracy"] for r in rounds], marker="o",
                label=f"{label}: global final {run['global']['final_accuracy']:.4f}")
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return fig


def _scaling_known(scaling: dict[str, Any]) -> bool:
    runs = scaling.get("runs")
    return bool(runs) and all(isinstance(r, dict) and ("worker_nodes" in r or "nodes" in r) and "wall_seconds" in r
                               for r in runs)


def _nodes(run: dict[str, Any]) -> int:
    return run.get("worker_nodes", run.get("nodes"))


def _tune_scaling(data: dict[str, Any]):
    runs = data["scaling"]["runs"]
    fig, ax = new_figure("Ray Tune: wall time vs Swarm worker nodes", "worker nodes (1 CPU each)", "wall time (s)")
    nodes = [_nodes(r) for r in runs]
    ax.plot(nodes, [r["wall_seconds"] for r in runs], marker="o", label="measured")
    ax.plot(nodes, [runs[0]["wall_seconds"] * nodes[0] / n for n in nodes], "k--", label="perfect scaling")
    ax.set_xticks(nodes)
    ax.legend()
    ax.set_ylim(bottom=0)
    return fig
