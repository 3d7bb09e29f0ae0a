"""tune.json -> tune.md and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacklab.core.plots import new_figure, save
from stacklab.core.results import markdown_table


def tune_markdown(summary: dict[str, Any]) -> str:
    s = summary["settings"]
    head = (
        f"# Ray Tune: {s['model']} on {summary['data']['name']} ({summary['data']['source']})\n\n"
        f"Searcher **{s['searcher']}**, scheduler **{s['scheduler']}**, {summary['num_trials']} trials, "
        f"{s['folds']}-fold CV, {summary['cluster_cpus']} CPUs, nodes: {', '.join(summary['nodes'])}.\n\n"
        f"- best CV accuracy **{summary['best']['accuracy']:.4f}** vs default parameters "
        f"**{summary['default']['accuracy']:.4f}** ({summary['improvement']:+.4f})\n"
        f"- best config: `{summary['best']['config']}`\n"
        f"- wall time {summary['wall_seconds']:.1f} s, trial compute {summary['trial_seconds']:.1f} s, "
        f"errors {summary['num_errors']}\n\n"
    )
    rows = [
        {"trial": t["trial_id"], "accuracy": t["accuracy"], "stages": t["iterations"],
         "complete": t["completed"], "seconds": round(t["seconds"] or 0.0, 1), "node": t["node_ip"],
         **{k: v for k, v in t["config"].items()}}
        for t in sorted(summary["trials"], key=lambda t: -(t["accuracy"] or 0))
    ]
    return head + markdown_table(rows)


def tune_plots(summary: dict[str, Any], grid: Any, out_dir: Path) -> list[Path]:
    trials = sorted(summary["trials"], key=lambda t: t["finished_at"] or 0)
    complete = [t for t in trials if t["completed"]]
    paths = []

    fig, ax = new_figure("CV accuracy per trial", "trial (in order of finishing)", "CV accuracy")
    ax.scatter(range(len(trials)), [t["accuracy"] for t in trials],
               c=["tab:blue" if t["completed"] else "tab:gray" for t in trials])
    ax.axhline(summary["default"]["accuracy"], color="tab:red", ls="--", label="default parameters")
    ax.legend()
    paths.append(save(fig, out_dir / "tune_scores.png"))

    fig, ax = new_figure("Best CV accuracy so far", "trial compute so far (s)", "best CV accuracy")
    spent, best, xs, ys = 0.0, 0.0, [], []
    for t in trials:
        spent += t["seconds"] or 0.0
        if t["completed"]:
            best = max(best, t["accuracy"])
        if best:
            xs.append(spent)
            ys.append(best)
    ax.step(xs, ys, where="post")
    ax.axhline(summary["default"]["accuracy"], color="tab:red", ls="--", label="default parameters")
    ax.legend()
    paths.append(save(fig, out_dir / "tune_best_so_far.png"))

    fig, ax = new_figure("Learning curves (one line per trial)", "stage (trees or folds)", "CV accuracy")
    for t in trials:
        ax.plot(range(1, len(t["curve"]) + 1), t["curve"], marker=".", alpha=0.7,
                color="tab:blue" if t in complete else "tab:gray")
    paths.append(save(fig, out_dir / "tune_curves.png"))
    return paths
