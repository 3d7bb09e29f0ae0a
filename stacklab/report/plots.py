"""Comparison plots that no single part can draw: they need two parts' results.

Drawn by `stacklab report` from docs/data (the same dicts the pages render
from) into docs/img/report_<name>.png; each is skipped while its inputs are
missing. The parts' own plots are copied as they are by report.collect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from stacklab.core.plots import caption, data_label, new_figure, plt, save


def draw(data: dict[str, Any], img_dir: Path) -> list[Path]:
    img_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, needs, plot in (
        ("tuned_vs_default", ("tune",), _tuned_vs_default),
        ("train_scaling", ("train", "train_1w"), _train_scaling),
        ("fl_iid_vs_noniid", ("fl", "fl_noniid"), _fl_iid_vs_noniid),
        ("tune_scaling", ("scaling",), _tune_scaling),
    ):
        if name == "tuned_vs_default" and "rescore" not in data.get("tune", {}):
            continue  # no held-out scores: nothing honest to draw
        if all(key in data for key in needs) and (name != "tune_scaling" or _scaling_known(data["scaling"])):
            drawn.append(save(plot(data), img_dir / f"report_{name}.png"))
    return drawn


def _tuned_vs_default(data: dict[str, Any]):
    """Held-out accuracy of both configs per split (paired), and the paired differences with their interval.

    Points and intervals, not bars: a bar's length claims a distance from
    zero, which a zoomed accuracy axis would misstate.
    """
    r = data["tune"]["rescore"]
    default = [s["default"] for s in r["splits"]]
    tuned = [s["tuned"] for s in r["splits"]]
    diffs = [t - d for d, t in zip(default, tuned, strict=True)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    caption(fig, f"{data_label(data['tune']['data'])}; {r['holdout_rows']} held-out rows, "
                 f"{r['folds']} folds x {r['repeats']} repeats")
    fig.suptitle("RandomForest: default vs tuned on rows the search never saw")
    for d, t in zip(default, tuned, strict=True):
        left.plot([0, 1], [d, t], color="0.75", lw=0.8, marker=".", zorder=1)
    means = [r["default_mean"], r["tuned_mean"]]
    left.errorbar([0, 1], means, yerr=[r["default_std"], r["tuned_std"]], fmt="o", color="black", capsize=6,
                  zorder=2, label="mean +- std over splits")
    left.plot([], [], color="0.75", marker=".", label="one split (same rows for both)")
    left.set_xticks([0, 1], ["default", "tuned"])
    left.set_xlim(-0.5, 1.5)
    left.set_ylabel("held-out accuracy")
    left.grid(alpha=0.3)
    left.legend(loc="best", fontsize="small")
    low, high = r["diff_ci"]
    right.axhline(0, color="tab:red", ls="--", lw=1, label="no difference")
    right.scatter([0] * len(diffs), diffs, color="0.6", s=12, label="one split")
    right.errorbar([0], [r["diff_mean"]], yerr=[[r["diff_mean"] - low], [high - r["diff_mean"]]], fmt="o",
                   color="tab:green", capsize=8, label=f"mean, {100 * r['confidence']:.0f}% interval")
    right.set_xticks([0], ["tuned - default"])
    right.set_xlim(-0.5, 2.5)  # the points on the left, the legend on the right: no overlap
    right.set_ylabel("paired accuracy difference")
    right.grid(alpha=0.3)
    right.legend(loc="center right", fontsize="small")
    return fig


def _train_scaling(data: dict[str, Any]):
    fig, ax = new_figure("Ray Train: throughput per epoch", "epoch", "training samples/s",
                         source=data_label(data["train"]["data"]))
    for key in ("train_1w", "train"):
        run = data[key]
        epochs = run["epochs"]
        ax.plot([e["epoch"] for e in epochs], [e["samples_per_s"] for e in epochs], marker="o",
                label=f"{run['config']['workers']} worker(s), final test acc {run['final']['test_accuracy']:.4f}")
    ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.3)  # headroom: the legend sits above the lines
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper center", fontsize="small", ncols=2)
    return fig


def _fl_iid_vs_noniid(data: dict[str, Any]):
    fig, ax = new_figure("FEDn: mean client accuracy per round", "round of the session",
                         "mean validation accuracy (own test share)", source=data_label(data["fl"]["data"]))
    for key, label in (("fl", "IID"), ("fl_noniid", "non-IID")):
        run = data[key]
        rounds = [r for r in run["rounds"] if r.get("mean_accuracy") is not None]
        ax.plot(range(1, len(rounds) + 1), [r["mean_accuracy"] for r in rounds], marker="o",
                label=f"{label}: global final {run['global']['final_accuracy']:.4f}")
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", fontsize="small")
    return fig


def _scaling_known(scaling: dict[str, Any]) -> bool:
    runs = scaling.get("runs")
    return bool(runs) and all(isinstance(r, dict) and ("worker_nodes" in r or "nodes" in r) and "wall_seconds" in r
                               for r in runs)


def _nodes(run: dict[str, Any]) -> int:
    return run.get("worker_nodes", run.get("nodes"))


def _tune_scaling(data: dict[str, Any]):
    scaling = data["scaling"]
    runs = scaling["runs"]
    source = "local Swarm on one 2-core machine"
    if "tune" in data:
        source += f"; {data_label(data['tune']['data'])}"
    fig, ax = new_figure("Ray Tune: wall time vs Swarm worker nodes", "worker nodes (1 CPU each)", "wall time (s)",
                         source=source)
    nodes = [_nodes(r) for r in runs]
    walls = [r["wall_seconds"] for r in runs]
    # the spread of the runs behind each median (only the undisturbed ones count)
    kept = [[a["wall_seconds"] for a in r.get("attempts", []) if a.get("foreign_load") is False] or [w]
            for r, w in zip(runs, walls, strict=True)]
    spread = [[w - min(k) for w, k in zip(walls, kept, strict=True)], [max(k) - w for w, k in zip(walls, kept, strict=True)]]
    ax.errorbar(nodes, walls, yerr=spread, marker="o", capsize=5,
                label="median of runs (bars: their range)" if any("attempts" in r for r in runs) else "measured")
    ax.plot(nodes, [walls[0] * nodes[0] / n for n in nodes], "k--", label="perfect scaling")
    ax.set_xticks(nodes)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_ylim(bottom=0)
    return fig
