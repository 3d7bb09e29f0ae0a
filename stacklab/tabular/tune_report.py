"""tune.json -> tune.md and PNG plots."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from stacklab.core.plots import data_label, new_figure, save
from stacklab.core.results import markdown_table
from stacklab.tabular.cv import FOREST_STAGE_FRACTIONS
from stacklab.tabular.models import get_model

COMPLETE, STOPPED, DEFAULT = "tab:blue", "tab:gray", "tab:red"
WIDE = (8.8, 4.0)  # room for the legend beside the axes


def held_out_line(r: dict[str, Any]) -> str:
    """One sentence: tuned vs default on the held-out folds, with its interval and verdict."""
    low, high = r["diff_ci"]
    head = (f"held-out ({r['holdout_rows']} rows never seen by the search, {r['folds']} folds x {r['repeats']} "
            f"repeats): tuned {r['tuned_mean']:.4f} +- {r['tuned_std']:.4f}, default {r['default_mean']:.4f} "
            f"+- {r['default_std']:.4f}; gain {r['diff_mean']:+.4f}, {100 * r['confidence']:.0f}% interval "
            f"[{low:+.4f}, {high:+.4f}]: ")
    return head + verdict_words(r)


def verdict_words(r: dict[str, Any]) -> str:
    """What the held-out comparison showed, plainly."""
    if r["same_config"]:
        return "no gain: the search chose the defaults themselves"
    return {"gain": "a real gain", "loss": "the tuned config is worse",
            "within noise": "within noise, NOT a demonstrated gain"}[r["verdict"]]


def tune_markdown(summary: dict[str, Any]) -> str:
    s = summary["settings"]
    rescored = summary.get("rescore")
    head = (
        f"# Ray Tune: {s['model']} on {summary['data']['name']} ({summary['data']['source']})\n\n"
        f"Searcher **{s['searcher']}**, scheduler **{s['scheduler']}**, {summary['num_trials']} trials, "
        f"{s['folds']}-fold CV, {summary['cluster_cpus']} CPUs, nodes: {', '.join(summary['nodes'])}.\n\n"
        f"- best CV accuracy in the search **{summary['best']['accuracy']:.4f}** vs default parameters "
        f"**{summary['default']['accuracy']:.4f}** on the same folds ({summary['improvement']:+.4f}; the winner "
        "was picked on these folds, so this overstates it)\n"
        + (f"- {held_out_line(rescored)}\n" if rescored else "- no held-out rows (--holdout 0): no unbiased score\n")
        + f"- best config: `{summary['best']['config']}`\n"
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


def _status_legend(ax: Any, scheduler: str, default: bool = True) -> None:
    """Explain every colour: finished trials, trials the scheduler stopped, the defaults' score."""
    handles = [Line2D([], [], color=COMPLETE, marker="o", ls="", label="trial ran all its stages"),
               Line2D([], [], color=STOPPED, marker="o", ls="", label=f"trial stopped early by {scheduler.upper()}")]
    if default:
        handles.append(Line2D([], [], color=DEFAULT, ls="--", label="default parameters (same folds)"))
    # beside the axes, not over the trials
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def tune_plots(summary: dict[str, Any], grid: Any, out_dir: Path) -> list[Path]:
    trials = sorted(summary["trials"], key=lambda t: t["finished_at"] or 0)
    scheduler = summary["settings"]["scheduler"]
    source = data_label(summary["data"])
    paths = []

    fig, ax = new_figure("CV accuracy per trial (search folds)", "trial (in order of finishing)", "CV accuracy",
                         size=WIDE, source=source)
    ax.scatter(range(1, len(trials) + 1), [t["accuracy"] for t in trials],
               c=[COMPLETE if t["completed"] else STOPPED for t in trials])
    ax.axhline(summary["default"]["accuracy"], color=DEFAULT, ls="--")
    ax.set_xlim(0.5, len(trials) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _status_legend(ax, scheduler)
    paths.append(save(fig, out_dir / "tune_scores.png"))

    fig, ax = new_figure("Best CV accuracy so far (search folds)", "trial compute so far (s)", "best CV accuracy",
                         source=source)
    spent, best, xs, ys = 0.0, 0.0, [], []
    for t in trials:
        spent += t["seconds"] or 0.0
        if t["completed"]:
            best = max(best, t["accuracy"])
        if best:
            xs.append(spent)
            ys.append(best)
    ax.step(xs, ys, where="post", color=COMPLETE, label="best finished trial so far")
    ax.axhline(summary["default"]["accuracy"], color=DEFAULT, ls="--", label="default parameters (same folds)")
    ax.legend(loc="upper left", fontsize="small")
    paths.append(save(fig, out_dir / "tune_best_so_far.png"))

    # Only a scheduler with stages gives curves; one point per trial is the scores plot again.
    if any(len(t["curve"]) > 1 for t in trials):
        grows = get_model(summary["settings"]["model"]).grows
        fig, ax = new_figure("Learning curves (one line per trial)",
                             "ASHA rung: share of the trial's trees grown" if grows else "ASHA rung: folds evaluated",
                             "CV accuracy", size=WIDE, source=source)
        for t in trials:
            ax.plot(range(1, len(t["curve"]) + 1), t["curve"], marker=".", alpha=0.7,
                    color=COMPLETE if t["completed"] else STOPPED)
        if grows:
            ax.set_xticks(range(1, len(FOREST_STAGE_FRACTIONS) + 1),
                          [str(Fraction(f).limit_denominator()) for f in FOREST_STAGE_FRACTIONS])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _status_legend(ax, scheduler, default=False)
        paths.append(save(fig, out_dir / "tune_curves.png"))
    return paths
