"""How a launcher's fixed cost weighs at other run lengths (the P3 benches' projections).

A run is a dict with "wall_seconds" and "loop_seconds" (the epochs' own time);
wall = fixed + epochs * per-epoch loop time, so one measured run of each
launcher says what any other length would cost.
"""

from __future__ import annotations


def split(run: dict, epochs: int) -> tuple[float, float]:
    """(fixed seconds, loop seconds per epoch) of one run."""
    return run["wall_seconds"] - run["loop_seconds"], run["loop_seconds"] / epochs


def projected_ratio(ray: dict, ddp: dict, epochs_run: int, epochs: int) -> float:
    """Ray / DDP wall time a run of `epochs` would have, from runs of `epochs_run`."""
    (fr, lr), (fd, ld) = split(ray, epochs_run), split(ddp, epochs_run)
    return (fr + epochs * lr) / (fd + epochs * ld)


def epochs_to_reach(target: float, ray: dict, ddp: dict, epochs_run: int) -> float | None:
    """Fewest epochs at which ray/ddp wall <= target (None: never, the loop itself is slower)."""
    (fr, lr), (fd, ld) = split(ray, epochs_run), split(ddp, epochs_run)
    gap, gain = fr - target * fd, target * ld - lr
    if gap <= 0:
        return 0.0
    return gap / gain if gain > 0 else None


def at_loop_parity(ddp: dict, extra_fixed: float) -> dict:
    """The Ray run DDP's would be if only the fixed cost differed: same loop, extra_fixed more wall."""
    return {"wall_seconds": ddp["wall_seconds"] + extra_fixed, "loop_seconds": ddp["loop_seconds"]}
