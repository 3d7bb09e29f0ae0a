"""results/federated/: fl.json (source of truth), then fl.md and fl_accuracy.png from it."""

from __future__ import annotations

from pathlib import Path

from stacklab.core.results import markdown_table, part_dir, write_atomic, write_json


def round_rows(result: dict) -> list[dict]:
    rows = []
    for rec in result["rounds"]:
        row = {"round": rec["round"], "status": rec["status"], "seconds": rec["seconds"]}
        for name, c in sorted(rec.get("clients", {}).items()):
            row[f"{name} acc"] = c.get("accuracy")
        row["mean acc"] = rec.get("mean_accuracy")
        row["overhead s"] = rec.get("overhead_seconds")
        rows.append({k: "n/a" if v is None else v for k, v in row.items()})  # e.g. a round nobody validated
    return rows


def markdown(result: dict) -> str:
    g = result["global"]
    rows = round_rows(result)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return (
        f"# Federated learning (FEDn): session {result['session_name']}\n\n"
        f"{len(result['clients'])} clients ({result['client_mode']} mode, "
        f"{'non-IID' if result['non_iid'] else 'IID'} partitions), data: {result['data']['source']}.\n\n"
        f"Global model accuracy on {g['n_test']} held-out images: {g['seed_accuracy']:.4f} (seed) -> "
        f"{g['final_accuracy']:.4f} (final).\n\n"
        f"Mean round time {_fmt(result.get('mean_round_seconds'))} s; mean round overhead (round time minus the "
        f"slowest client's own train+validate time) {_fmt(result.get('mean_overhead_seconds'))} s.\n\n"
        "Per-client accuracy is each client's validation of the round's global model on its own test share.\n\n"
        + markdown_table(rows, columns or None)
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plot(result: dict, path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator

    from stacklab.core.plots import data_label, new_figure, save

    fig, ax = new_figure(f"FEDn session {result['session_name']} ({'non-IID' if result['non_iid'] else 'IID'})",
                         "round", "validation accuracy (own test share)", source=data_label(result["data"]))
    ok = [r for r in result["rounds"] if r.get("clients")]
    names = sorted({n for r in ok for n in r["clients"]})
    for name in names:
        pts = [(r["round"], r["clients"][name]["accuracy"]) for r in ok if name in r["clients"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.plot([r["round"] for r in ok], [r["mean_accuracy"] for r in ok], "k--", marker="s", label="mean")
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", fontsize="small")
    return save(fig, path)


def write_all(result: dict, out: str | Path | None = None) -> Path:
    """JSON first (complete, atomically), then the renderings."""
    directory = part_dir(out, "federated")
    path = write_json(directory / "fl.json", result)
    write_atomic(directory / "fl.md", markdown(result))
    plot(result, directory / "fl_accuracy.png")
    return path
