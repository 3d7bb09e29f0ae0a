"""The lab's parts: ONE table that the CLI, deploy, lab, report and images read.

To add a part, add a row here: its stack directory then ships in the kit
image, its stack files deploy with `stacklab stack deploy <name>`, its lab
step runs in `stacklab lab`, its results feed `stacklab report`.
Imports nothing heavy: the CLI reads it to build its help.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Part:
    name: str
    # Root folder of its deployment artifacts and thin entry scripts (None: no folder).
    stack_dir: str | None = None
    # Swarm stack files, merged in this order by `docker stack deploy -c ... -c ...`.
    stack_files: tuple[str, ...] = ()
    # Script in stack_dir that `stacklab ray submit <name>` runs in the Ray head.
    ray_entry: str | None = None
    # Module with lab_step(results_root) -> summary row, run by `stacklab lab`.
    lab_step: str | None = None
    # Report key -> (results file under the results root, the command that writes it).
    # The commands are the exact ones whose output docs/data holds, so the docs
    # name a command that reproduces each of their numbers.
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Which role image its services run (None: it runs no service of its own).
    image_role: str | None = None


# In the lab's order (`stacklab lab` runs the lab steps in this order).
PARTS: tuple[Part, ...] = (
    Part("tuning", stack_dir="tuning", stack_files=("tuning/compose.yaml", "tuning/docker-stack.yml"),
         lab_step="stacklab.tabular.baseline", image_role="ray",
         sources={"baseline": ("tuning/baseline.json", "stacklab baseline --folds 5")}),
    Part("ray_tuning", stack_dir="ray_tuning", stack_files=("swarm/ray-cluster.yml", "ray_tuning/docker-stack.yml"),
         ray_entry="tune.py", lab_step="stacklab.tabular.tune", image_role="ray",
         sources={"tune": ("ray_tuning/tune.json",
                           "stacklab tune --searcher optuna --scheduler asha --trials 16 --folds 3")}),
    Part("ray_train", stack_dir="ray_train", stack_files=("swarm/ray-cluster.yml", "ray_train/docker-stack.yml"),
         ray_entry="train.py", lab_step="stacklab.mnist.train", image_role="ray",
         sources={"train": ("ray_train/train.json", "stacklab train --workers 2 --epochs 5"),
                  "train_1w": ("ray_train_1worker/train.json",
                               "stacklab train --workers 1 --epochs 5 --out results/ray_train_1worker")}),
    Part("federated", stack_dir="federated", stack_files=("federated/docker-stack.yml",),
         lab_step="stacklab.federated.lab", image_role="fedn",
         sources={"fl": ("federated/fl.json", "stacklab fl up && stacklab fl run --rounds 5 && stacklab fl down"),
                  "fl_noniid": ("federated_noniid/fl.json",
                                "stacklab fl up --non-iid && stacklab fl run --rounds 5 "
                                "--out results/federated_noniid && stacklab fl down"),
                  "fl_swarm": ("federated_swarm/fl.json",
                               "stacklab stack deploy federated && stacklab fl swarm-run --rounds 5"),
                  # what the dashboard snapshot (fl_dashboard.png) showed: session, rounds, clients
                  "fl_dashboard": ("federated/dashboard.json", "stacklab fl run --rounds 5 (its snapshot)"),
                  "fl_swarm_dashboard": ("federated_swarm/dashboard.json",
                                         "stacklab fl swarm-run --rounds 5 (its snapshot)"),
                  # the same stack on three VMs (bench P8), one role each
                  "fl_vm": ("federated_vm/fl.json", "python bench/p8_vm_federated.py"),
                  "fl_vm_dashboard": ("federated_vm/dashboard.json",
                                      "python bench/p8_vm_federated.py (its snapshot)")}),
    Part("bench", sources={
        "p1_p2": ("bench/p1_p2.json", "python bench/p1_p2_tune.py"),
        "p3": ("bench/p3.json", "python bench/p3_ray_train_vs_ddp.py"),
        "p3_startup": ("bench/p3_startup.json", "python bench/p3_startup.py"),
        "p4": ("bench/p4_fl.json", "python bench/p4_fl_round_overhead.py"),
        "p5_p6": ("bench/p5_p6.json", "python bench/p5_p6_swarm.py"),
        # its "tune" key, when present, tabulated as {"runs": [{"vms", "wall_seconds", "accel", "cores_shared"}]}
        "p8": ("bench/p8.json", "python bench/p8_vms.py; python bench/p8_vm_tune.py; "
                              "python bench/p8_vm_federated.py; python bench/p8_vm_faults.py"),
        "fl_hetero": ("federated_hetero/hetero.json", "python bench/p9_fl_heterogeneity.py")}),
    # The node bootstrap and the Ray cluster file the Ray parts merge; no stack of its own.
    Part("swarm", stack_dir="swarm",
         sources={
             # tabulated when {"cpus_per_node": int, "runs": [{"nodes", "wall_seconds", "trials", ...}]}
             "scaling": ("cluster/scaling.json", "python bench/p5_p6_swarm.py"),
             "cluster_up": ("cluster/e2e_timing.json", "pytest -m swarm tests/e2e_swarm")}),
    Part("report", lab_step="stacklab.report.pages"),
)
BY_NAME = {part.name: part for part in PARTS}


def stacks() -> dict[str, list[str]]:
    """Deployable part -> its stack files, in merge order."""
    return {p.name: list(p.stack_files) for p in PARTS if p.stack_files}


def ray_entries() -> dict[str, str]:
    """Part -> the entry script `stacklab ray submit` runs in its head."""
    return {p.name: p.ray_entry for p in PARTS if p.ray_entry}


def lab_steps() -> list[tuple[str, str]]:
    """(part, lab step module) in the lab's order."""
    return [(p.name, p.lab_step) for p in PARTS if p.lab_step]


def report_sources() -> dict[str, tuple[str, str]]:
    """Every report key -> (results file, command), over all parts."""
    return {key: source for p in PARTS for key, source in p.sources.items()}


def stack_dirs() -> list[str]:
    """The parts' root folders (what ships in the kit image next to the package)."""
    return [p.stack_dir for p in PARTS if p.stack_dir]
