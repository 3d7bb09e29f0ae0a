"""train.json (the source of truth), then train.md and PNG curves, for ray_train/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from stacklab.core import plots
from stacklab.core.results import markdown_table, write_atomic, write_json

EPOCH_COLUMNS = ["epoch", "train_loss", "test_loss", "test_accuracy", "samples_per_s", "train_seconds", "eval_seconds"]
RANK_COLUMNS = ["rank", "local_rank", "node_rank", "node_ip", "hostname", "pid", "threads", "gloo_ifname"]


def summarise(settings: dict, data: dict, meta: dict, name: str, storage: str, checkpoint: str,
              fit_seconds: float, wall_seconds: float) -> dict[str, Any]:
    history = meta["history"]
    last = history[-1] if history else {}
    starts = meta.get("starts", [])
    return {
        "part": "ray_train",
        "config": settings,
        "data": data,
        "epochs": history,
        "ranks": meta.get("ranks", []),
        "nodes": sorted({r.get("node_ip") for r in meta.get("ranks", [])}),
        # One entry per time the worker group (re)started: a resume or a restart
        # after a failure shows up here with the epoch it continued after.
        "starts": starts,
        "restarts": max(len(starts) - 1, 0),
        "final": {k: last.get(k) for k in ("epoch", "test_accuracy", "test_loss", "train_loss")},
        "fit_seconds": fit_seconds,
        "wall_seconds": wall_seconds,
        "run_name": name,
        "storage": storage,
        "checkpoint": checkpoint,
    }


def render_markdown(summary: dict[str, Any]) -> str:
    cfg, final = summary["config"], summary["final"]
    lines = [
        "# Ray Train: data-parallel MnistCNN",
        "",
        f"{cfg['workers']} worker(s) x {cfg['cpus_per_worker']} CPU on {len(summary['nodes'])} node(s), "
        f"batch {cfg['batch_size']} per worker, Adam lr {cfg['lr']}; data: {summary['data']['source']} "
        f"({summary['data']['n_train']} train / {summary['data']['n_test']} test images).",
        "",
        f"Final test accuracy **{final['test_accuracy']:.4f}** after epoch {final['epoch']}; "
        f"fit {summary['fit_seconds']:.1f} s, wall {summary['wall_seconds']:.1f} s; "
        f"worker-group starts: {len(summary['starts'])} (restarts/resumes: {summary['restarts']}).",
        "",
        "## Epochs",
        "",
        markdown_table(summary["epochs"], EPOCH_COLUMNS),
        "## Ranks",
        "",
        markdown_table(summary["ranks"], RANK_COLUMNS),
        f"Checkpoint: `{summary['checkpoint']}`",
        "",
    ]
    return "\n".join(lines)


def plot_curves(summary: dict[str, Any], out: Path) -> list[Path]:
    epochs = summary["epochs"]
    x = [e["epoch"] for e in epochs]
    source = plots.data_label(summary["data"])
    fig, ax = plots.new_figure("MnistCNN on Ray Train: loss and accuracy", "epoch", "cross-entropy loss",
                               source=source)
    ax.plot(x, [e["train_loss"] for e in epochs], "o-", label="train loss")
    ax.plot(x, [e["test_loss"] for e in epochs], "s-", label="test loss")
    acc = ax.twinx()
    acc.plot(x, [e["test_accuracy"] for e in epochs], "^-", color="tab:green", label="test accuracy")
    acc.set_ylabel("test accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = ax.get_lines() + acc.get_lines()
    ax.legend(handles, [h.get_label() for h in handles], loc="center right", fontsize="small")
    curves = plots.save(fig, out / "train_curves.png")
    fig, ax = plots.new_figure(
        f"Throughput, {summary['config']['workers']} worker(s)", "epoch", "training samples/s (all workers)",
        source=source,
    )
    ax.bar(x, [e["samples_per_s"] for e in epochs])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return [curves, plots.save(fig, out / "train_throughput.png")]


def write_results(out: Path, settings: dict, data: dict, meta: dict, name: str, storage: str,
                  checkpoint: str, fit_seconds: float, wall_seconds: float) -> dict[str, Any]:
    summary = summarise(settings, data, meta, name, storage, checkpoint, fit_seconds, wall_seconds)
    write_json(out / "train.json", summary)
    write_atomic(out / "train.md", render_markdown(summary))
    plot_curves(summary, out)
    return summary
