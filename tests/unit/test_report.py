"""`stacklab report`: docs rebuilt from stored results, every figure traced to them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stacklab.core.errors import UserError
from stacklab.report import pages as report
from tests.conftest import REPO, assert_one_line_error, run_cli

DOCS = REPO / "docs"
# a decimal number or a percentage, not part of a longer token such as a version or an address
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)+%?(?![\w.])|(?<![\w.])\d+%")
CODE_SPAN = re.compile(r"`[^`\n]*`")
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)


def figures_outside_filters(page: str, rendered: list[str]) -> list[str]:
    return [hit for hit in FIGURE.findall(page) if not any(hit in text for text in rendered)]


# ---------------------------------------------------------------- the committed docs


def test_committed_docs_are_exactly_the_rendering_of_docs_data():
    pages, _ = report.render(DOCS)
    for name, text in pages.items():
        committed = (DOCS / name).read_text()
        assert committed == text, f"docs/{name} differs from `stacklab report --stored`: never edit it by hand"


def test_committed_docs_have_numbers_for_the_parts_measured_here():
    pages, figures = report.render(DOCS)
    data = report.load_data(DOCS)
    for key in ("baseline", "tune", "train", "train_1w", "fl", "fl_noniid"):
        assert key in data, f"docs/data/{key}.json missing: run `{report.SOURCES[key][1]}` and `stacklab report`"
    results = pages["results.md"]
    assert f"**{figures.acc(data['tune']['best']['accuracy'])}**" in results
    assert figures.acc(data["baseline"]["mean_accuracy"]) in results
    assert figures.acc(data["fl_noniid"]["global"]["final_accuracy"]) in pages["answers.md"]
    assert data["baseline"]["data"]["rows"] == 15120 and data["baseline"]["folds"] == 5


def test_every_figure_in_the_committed_docs_comes_from_a_filter():
    pages, figures = report.render(DOCS)
    assert len(figures.rendered) > 50
    for name, text in pages.items():
        assert FIGURE.findall(text), f"{name} quotes no figure at all"
        assert figures_outside_filters(text, figures.rendered) == [], name


# The lab's limits: answers 1-3 at most 400 words, 4 and 5 at most 300 (half a page of Arial 11 pt).
WORD_LIMITS = {1: 400, 2: 400, 3: 400, 4: 300, 5: 300}
# any number in running text: 24, 1,500, 0.8243, 95.0%, -0.0132
NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*%?(?!\w)")
# a numeric literal inside a {{ ... }} expression, once strings, subscripts and round()'s precision are gone
LITERAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")


def answer_words(page: str) -> dict[int, int]:
    """Words of each numbered answer: its text without the heading, images and Markdown table rules."""
    counts = {}
    for block in re.split(r"\n## ", page)[1:]:
        heading, _, body = block.partition("\n")
        text = "\n".join(line for line in body.splitlines()
                         if not line.startswith("![") and not re.fullmatch(r"[|\-\s]+", line))
        counts[int(heading.split(".")[0])] = len(re.findall(r"[\w+\-.,%]*\w[\w+\-.,%]*", text))
    return counts


def untraced(numbers: list[str], rendered: list[str]) -> list[str]:
    """The numbers that no filter wrote (each must be a whole number token of a filtered figure)."""
    tokens = {n.rstrip(",") for text in rendered for n in NUMBER.findall(text)}
    return [n for n in numbers if n not in tokens]


def running_text_numbers(page: str) -> list[str]:
    """Numbers outside headings (the lab's own questions), code spans, image links and comments."""
    lines = [line for line in page.splitlines() if not line.startswith(("#", "![", "<!--"))]
    return [n.rstrip(",") for n in NUMBER.findall(CODE_SPAN.sub("", "\n".join(lines)))]


def test_committed_answers_keep_to_the_labs_word_limits():
    counts = answer_words((DOCS / "answers.md").read_text())
    assert sorted(counts) == [1, 2, 3, 4, 5]
    for number, words in counts.items():
        assert words <= WORD_LIMITS[number], f"answer {number} has {words} words (limit {WORD_LIMITS[number]})"


def test_every_number_in_the_answers_comes_from_docs_data():
    pages, figures = report.render(DOCS)
    numbers = running_text_numbers(pages["answers.md"])
    assert len(numbers) > 20
    assert untraced(numbers, figures.rendered) == []


def test_filters_format_data_never_a_typed_number():
    for template in sorted((DOCS / "templates").glob("*.j2")):
        for expression in re.findall(r"{{.*?}}", template.read_text(), re.S):
            bare = re.sub(r"\"[^\"]*\"|'[^']*'", "", expression)           # strings (file names, captions)
            bare = re.sub(r"\[-?\d+\]|round\(0\b", "", bare)                 # subscripts, round()'s precision
            assert LITERAL.findall(bare) == [], f"{template.name}: {expression} types a number"


def test_the_word_count_sees_what_a_reader_reads():
    page = "# T\n\n## 1. Q?\n\nTwo words.\n\n| a | b |\n|---|---|\n| 0.5 | x |\n![c](img.png)\n## 2. R\n\none\n"
    assert answer_words(page) == {1: 6, 2: 1}
    numbers = running_text_numbers("## 2. With 1, 2 and 3 VMs\ngain +0.0193, 95.0% of 1,500 rows (`--trials 24`), 3 s")
    assert numbers == ["0.0193", "95.0%", "1,500", "3"]
    assert untraced(numbers, ["+0.0193", "95.0%", "1,500", "13.0 s"]) == ["3"]


def test_templates_type_no_figures_outside_code_spans():
    for template in sorted((DOCS / "templates").glob("*.j2")):
        literal = CODE_SPAN.sub("", JINJA.sub("", template.read_text()))
        assert FIGURE.findall(literal) == [], f"{template.name} types a number: render it from docs/data"


def test_every_committed_image_link_exists():
    for name in report.TEMPLATES:
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (DOCS / name).read_text()):
            assert (DOCS / link).is_file(), link


# ---------------------------------------------------------------- fake results


def fake_results() -> dict[str, dict]:
    """Small results in each part's layout, with figures no real run would give."""
    stand_in = {"source": "offline stand-in (test)", "real_data": False}
    epochs = [{"epoch": i, "train_loss": 1.0 / i, "samples": 100, "train_seconds": 2.5 * i, "test_loss": 0.9,
               "test_accuracy": 0.6 + 0.1 * i, "eval_seconds": 0.5, "samples_per_s": 40.0 * i} for i in (1, 2)]

    def train(workers: int, final: float) -> dict:
        return {"config": {"workers": workers, "cpus_per_worker": 1, "batch_size": 16},
                "data": {**stand_in, "n_train": 100, "n_test": 50}, "epochs": epochs, "restarts": 0,
                "final": {"epoch": 2, "test_accuracy": final}, "fit_seconds": 12.25, "wall_seconds": 20.75}

    def fl(non_iid: bool, final: float) -> dict:
        rounds = [{"round": r, "seconds": 3.0 + r, "clients": {"client1": {"accuracy": 0.5 + 0.01 * r,
                                                                         "train_seconds": 1.5},
                                                             "client2": {"accuracy": 0.4 + 0.02 * r,
                                                                         "train_seconds": 2.5}},
                   "mean_accuracy": 0.45 + 0.015 * r, "overhead_seconds": 0.25 * r} for r in (1, 2, 3)]
        return {"clients": ["client1", "client2"], "client_mode": "inprocess", "non_iid": non_iid,
                "data": {**stand_in, "train_per_client": 100, "test_per_client": 50}, "config": {"epochs": 1},
                "rounds": rounds, "global": {"n_test": 100, "seed_accuracy": 0.1111, "final_accuracy": final},
                "mean_round_seconds": 5.125, "mean_overhead_seconds": 0.5}

    return {
        "baseline": {"model": "rf", "params": {"n_estimators": 100}, "folds": 3, "fold_scores": [0.71, 0.72, 0.73],
                     "mean_accuracy": 0.7212, "std_accuracy": 0.0081, "seconds": 1.25,
                     "data": {**stand_in, "rows": 300, "features": 54, "classes": 7}},
        "tune": {"settings": {"searcher": "optuna", "scheduler": "asha", "folds": 3, "cpus_per_trial": 1},
                 "data": {**stand_in, "rows": 300}, "num_trials": 2, "cluster_cpus": 2, "num_errors": 0,
                 "default": {"params": {"n_estimators": 100}, "accuracy": 0.7212},
                 "best": {"config": {"max_depth": 20, "max_features": 0.3}, "accuracy": 0.7777},
                 "improvement": 0.0565, "wall_seconds": 33.5, "trial_seconds": 55.5,
                 "trials": [{"completed": True}, {"completed": False}],
                 "rescore": {"search_rows": 225, "holdout_rows": 75, "folds": 3, "repeats": 2, "train_rows": 275,
                             "test_rows": 25, "same_config": False, "confidence": 0.95,
                             "splits": [{"default": 0.68, "tuned": 0.72}, {"default": 0.64, "tuned": 0.72},
                                        {"default": 0.76, "tuned": 0.76}, {"default": 0.72, "tuned": 0.68},
                                        {"default": 0.6, "tuned": 0.64}, {"default": 0.72, "tuned": 0.8}],
                             "default_mean": 0.6867, "default_std": 0.0589, "tuned_mean": 0.7333,
                             "tuned_std": 0.0432, "diff_mean": 0.0467, "diff_std": 0.0413,
                             "diff_ci": [-0.0132, 0.1066], "splits_tuned_better": 4, "verdict": "within noise"}},
        "train": train(2, 0.8123),
        "train_1w": train(1, 0.8456),
        "fl": fl(False, 0.8765),
        "fl_noniid": fl(True, 0.6543),
        "fl_swarm": fl(False, 0.7321),
        "fl_vm": fl(False, 0.7313),
        "p1_p2": {"data": {**stand_in, "rows": 300}, "folds": 3, "trials": 4, "cpus": 2,
                  "sequential_sklearn_s": 10.5, "ray_init_s": 2.5, "tune_random_fifo_wall_s": 6.5,
                  "tune_random_fifo_trial_s": 11.5, "tune_optuna_asha_wall_s": 4.5, "tune_optuna_asha_trial_s": 5.5,
                  "fifo_best": 0.7777, "asha_best": 0.7766, "P1_parallel_efficiency": 0.8077, "P1_target": ">= 0.90",
                  "P2_compute_ratio": 0.4783, "P2_target": "<= 0.5", "P2_reached": True},
        "p3": {"data": {**stand_in, "n": 100}, "epochs": 2, "repeats": 1, "batch_size": 16,
               "rows": [{"run": "DDP, 2 processes", "wall_seconds": 7.5, "loop_seconds": 3.5, "test_accuracy": 0.81,
                         "samples_per_s": 99.5}],
               "ratio_ray_over_ddp_wall": 1.9876, "ratio_ray_over_ddp_loop": 0.9123, "ray_extra_fixed_seconds": 9.25,
               "speedup_2_over_1_worker_wall": 0.8765, "speedup_2_over_1_worker_loop": 1.0432, "target": "<= 1.05",
               "epochs_to_reach_1_05": 21.4567, "projected_ratio_by_epochs": {"1": 2.5432, "3": 1.8765, "30": 1.0765}},
        "p3_startup": {"workers": 2, "repeats": 3, "ddp": {"wall_seconds": 3.25},
                       "ray_train": {"wall_seconds": 9.75, "to_first_line_seconds": 7.5, "in_function_seconds": 1.25,
                                     "after_return_seconds": 1.0},
                       "ray_extra_fixed_seconds": 6.5, "ratio_startup": 3.0,
                       "p3_floor": {"epochs": 2, "ddp_wall_seconds": 7.5, "ratio": 1.8667, "measured_ratio": 1.9876,
                                    "epochs_to_reach_1_05_at_parity": 41.5}},
        "p4": {"benchmark": "P4", "target_s": 1.0, "rounds": 3, "subprocess_over_inprocess": 12.3456,
               "results": [{"mode": m, "rounds": 3, "overhead_s": o, "round_s": 2.25, "client_own_s": 1.125,
                            "final_accuracy": 0.8125, "per_round": []} for m, o in (("inprocess", 0.55),
                                                                                    ("subprocess", 6.75))]},
        "p5_p6": {"p5_seconds": [27.5, 31.5], "p5_median": 29.5, "p5_target": 30, "p6_speedup": 1.8,
                  "p6_target": 1.8, "p6_runs": [{"nodes": 1, "wall_seconds": 90.0},
                                               {"nodes": 2, "wall_seconds": 50.0}],
                  "image_sizes_gb": {"stacklab:abc": 2.68}, "machine": "a test machine"},
        "scaling": {"cpus_per_node": 1, "workload": ["--trials", "8"], "machine": "a test machine",
                    "load_average_1_5_15": [3.5, 2.25, 1.75], "tune_repeats": 2, "foreign_limit_cpus": 0.5,
                    "runs": [{"nodes": n, "wall_seconds": w, "nodes_used": n, "best_accuracy": 0.8125,
                              "trials": 8, "errors": 0, "quiet": n != 2,
                              "attempts": [{"wall_seconds": w - 1, "foreign_cpus": 0.75 if n == 2 else 0.25,
                                            "foreign_load": n == 2},
                                           {"wall_seconds": w + 1, "foreign_cpus": 0.125 if n == 1 else 1.75,
                                            "foreign_load": n != 1}] + (
                                  [{"wall_seconds": w + 3, "foreign_cpus": 0.375, "foreign_load": False}]
                                  if n == 3 else [])}
                             for n, w in ((1, 90.0), (2, 50.0), (3, 36.0))]},
        "p8": {"bench": "P8 vm up", "cpu_count": 2,
               "runs": [{"cache": "warm", "nodes": 3, "accel": "tcg", "up_seconds": 412.5}],
               "tune": {"workload": ["--trials", "8"],
                        "runs": [{"vms": n, "wall_seconds": w, "accel": "tcg", "cores_shared": True, "vcpus": 1}
                                 for n, w in ((1, 300.0), (2, 240.0), (3, 250.0))]},
               "federation": {"accel": "tcg", "vcpus": 1, "cores_shared": True, "copy_seconds": 71.5,
                              "pull_seconds": {"stacklab-vm1": 1210.5, "stacklab-vm2": 837.5},
                              "deploy_to_controller_seconds": 248.5,
                              "placement": {"controller": ["stacklab-vm1"], "client": ["stacklab-vm3"]}},
               "faults": {"accel": "tcg", "worker_powered_off": {
                   "job_status": "SUCCEEDED", "trials": 6, "trials_requested": 6, "errors": 0,
                   "cut_after_seconds": 20.0, "trials_started_seconds": 410.5, "search_seconds_after_cut": 312.5,
                   "rejoin_seconds": 151.5},
                   "manager_rebooted": {"swarm_ready_seconds": 233.5, "ray_nodes_seconds_after": 95.5,
                                        "stacks_back": True, "results_kept": True, "registry_kept": True,
                                        "after": {"stacks": ["ray_tuning"]}}}},
        "fl_hetero": {"benchmark": "P9", "clients": 3, "round_timeout_s": 30, "scenarios": [
            {"scenario": name, "what": what, "session_status": status, "rounds_requested": 4, "rounds_finished": ok,
             "round_seconds": secs, "median_round_seconds": med, "clients_per_round": per,
             "global_final_accuracy": acc, "data_source": "a test subset"}
            for name, what, status, ok, secs, med, per, acc in (
                ("baseline", "3 clients at their own speed", "Finished", 4, [3.25, 3.5, 3.75, 3.5], 3.5,
                 [["c1", "c2", "c3"]] * 4, 0.8125),
                ("slow_client", "client3 holds each update back 6 s", "Finished", 4, [9.25, 9.5, 9.75, 9.5],
                 9.5, [["c1", "c2", "c3"]] * 4, 0.8135),
                ("killed", "client3 killed in round 2", "Finished", 4, [9.25, 31.5, 3.25, 3.5], 6.375,
                 [["c1", "c2", "c3"], ["c1", "c2"], ["c1", "c2"], ["c1", "c2"]], 0.7915))]},
        "fl_dashboard": {"png": "dashboard.png", "session_id": "s-123", "session_name": "stacklab-test",
                         "taken_at": "2030-01-02T03:04:05Z", "status": "Finished", "rounds_requested": 3,
                         "rounds_finished": 3, "clients": ["client1", "client2"], "clients_online": 2},
        "cluster_up": {"cluster_up_seconds": 61.5, "reused": False, "cluster_down_seconds": 9.5},
    }


@pytest.fixture
def tmp_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS / "templates", docs / "templates")
    return docs


def write_results(root: Path, results: dict[str, dict]) -> Path:
    for key, value in results.items():
        path = root / report.SOURCES[key][0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return root


def test_fake_results_render_with_every_figure_traced(tmp_path, tmp_docs):
    results = write_results(tmp_path / "results", fake_results())
    shutil.copyfile(DOCS / "img" / "fl_fl_accuracy.png", results / "federated" / "dashboard.png")  # a stand-in PNG
    report.build(results, tmp_docs)
    pages, figures = report.render(tmp_docs)
    for name, text in pages.items():
        assert (tmp_docs / name).read_text() == text
        assert "not measured yet" not in text, name
        assert figures_outside_filters(text, figures.rendered) == [], name
    # with every source present (the longest answers), still within the lab's limits, every number traced
    for number, words in answer_words(pages["answers.md"]).items():
        assert words <= WORD_LIMITS[number], f"answer {number} has {words} words"
    assert untraced(running_text_numbers(pages["answers.md"]), figures.rendered) == []
    out = pages["results.md"]
    assert "**0.7777**" in out and "max_features=0.3" in out             # tuned score and the config found
    # the dashboard snapshot, once, with what it showed; in the answers too
    assert "snapshot taken\n2030-01-02T03:04:05Z of session `stacklab-test`: 3 of 3 rounds," in out
    assert out.count("](img/fl_dashboard.png)") == 1 and "](img/fl_dashboard.png)" in pages["answers.md"]
    assert not (tmp_docs / "img" / "fl_dashboard_dashboard.png").exists()
    # the 3-node point: median of its undisturbed runs, the disturbed one re-run; 1-vs-3-node speed-up 90/36
    assert ("| 3 | 3 | 3 | 36.0 s | 35.0 s (other work: 0.25 CPUs); 37.0 s (other work: 1.75 CPUs, re-run); "
            "39.0 s (other work: 0.38 CPUs) | 2.50 | 0.8125 |") in out
    assert "51.0 s (other work: 1.75 CPUs, re-run); **every attempt ran under foreign load** | 1.80 |" in out
    # tuned vs default on held-out rows, with the interval and the plain verdict
    assert "| tuned - default (paired) | **+0.0467** | 0.0413 |" in out and "[-0.0132, +0.1066]" in out
    assert "**Within noise: the interval includes zero" in out and "won 4 of 6 splits" in out
    assert "| paired gain | **+0.0467**, 95.0% interval [-0.0132, +0.1066] |" in pages["answers.md"]
    assert "the gain is within noise, not demonstrated" in pages["answers.md"]
    # VMs, each labelled with how it ran; FL system heterogeneity as measured
    vm_row = "| 3 | emulated (QEMU TCG, no KVM), 1 vCPU per VM, cores shared with the other VMs and the host | 250.0 s |"
    assert vm_row in out and "| 3 | emulated, shared cores | 250.0 s | 1.20 |" in pages["answers.md"]
    assert "| 3 | 36.0 s | 2.50 | 0.38 |" in pages["answers.md"] and "| 1.80 | 1.75 (all runs disturbed) |" in pages["answers.md"]
    assert ("`stacklab vm power-off 3` 20.0 s after the second trial started, 410.5 s after the submit,"
            in out) and "the job SUCCEEDED with 6 of\n6 trials (0 errored)" in out
    assert "| killed | client3 killed in round 2 | Finished | 4 / 4 | 9.2 s, 31.5 s, 3.2 s, 3.5 s | 3, 2, 2, 2 | 0.7915 |" in out
    assert "client3 killed in round 2: 4 of 4 rounds finished, median round 6.4 s, session Finished." in pages["answers.md"]
    assert "**29.5 s** median of 27.5 s, 31.5 s" in out and "`stacklab:abc` 2.68 GB" in out
    assert "when the runs ended: 3.50, 2.25, 1.75." in out
    assert "With 8 equal trials on 3 one-CPU nodes the best possible speed-up is\n2.67; the measured one is 2.50." in pages["answers.md"]
    assert "**22.2%** (absolute)" in out                                          # IID 0.8765 - non-IID 0.6543
    assert "| subprocess | 3 | 2.2 s | 1.1 s | **6.8 s** | 0.8125 |" in out and "12.35 times" in out
    assert "took 61.5 s; tearing it down 9.5 s" in out
    assert "| 30 | 1.08 |" in out and "target ratio: about 21." in out               # P3 projection
    assert "| Ray Train (`fit()`) | 9.8 s | 7.5 s | 1.2 s | 1.0 s |" in out                # P3 start-up split
    assert "could not go below **1.87**" in out and "measured there: 1.99" in out
    assert "its whole run at 1.99 times, the difference being about\n9.2 s of start-up" in pages["answers.md"]
    assert "ratio reaches the target from about 42 epochs of that size" in out
    assert "spread from 0.4200 to 0.5100" in pages["answers.md"]
    for png in ("report_tuned_vs_default.png", "report_train_scaling.png", "report_fl_iid_vs_noniid.png",
                "report_tune_scaling.png"):
        assert (tmp_docs / "img" / png).stat().st_size > 1000, png
        assert f"img/{png}" in out


def test_a_scaling_file_of_another_layout_still_renders_its_figures(tmp_path, tmp_docs):
    other = {"scaling": {"cpu_per_node": 1, "speedup_3_over_1": 2.4567, "note": "P6 at 1.5x",
                         "by_nodes": [{"n": 1, "wall_s": 80.25}, {"n": 3, "wall_s": 32.75, "late": "n3"}]}}
    report.build(write_results(tmp_path / "results", other), tmp_docs)
    pages, figures = report.render(tmp_docs)
    out = pages["results.md"]
    assert "| `speedup_3_over_1` | 2.4567 |" in out and "| `note` | P6 at 1.5x |" in out
    assert "| n | wall_s | late |\n|---|---|---|\n| 1 | 80.2 s |  |\n| 3 | 32.8 s | n3 |" in out
    assert 'The timings per node count are in results.md, "Tuning wall time"' in pages["answers.md"]
    assert not (tmp_docs / "img" / "report_tune_scaling.png").exists()
    for text in pages.values():
        assert figures_outside_filters(text, figures.rendered) == []


def test_missing_sources_say_how_to_measure_them(tmp_path, tmp_docs):
    partial = {k: v for k, v in fake_results().items() if k in ("baseline", "tune")}
    report.build(write_results(tmp_path / "results", partial), tmp_docs)
    out = (tmp_docs / "results.md").read_text()
    assert "**0.7777**" in out
    for key in ("train", "fl_noniid", "scaling", "p3", "p3_startup", "p4"):
        assert f"_not measured yet: run `{report.SOURCES[key][1]}`, then `stacklab report`._" in out, key
    answers = (tmp_docs / "answers.md").read_text()
    assert f"not measured yet: run `{report.SOURCES['fl_noniid'][1]}`" in answers
    assert not (tmp_docs / "img" / "report_fl_iid_vs_noniid.png").exists()


def test_stored_rerender_needs_no_results(tmp_path, tmp_docs):
    report.build(write_results(tmp_path / "results", fake_results()), tmp_docs)
    first = (tmp_docs / "answers.md").read_text()
    (tmp_docs / "answers.md").write_text("edited by hand")
    report.build(tmp_path / "nowhere", tmp_docs, stored_only=True)
    assert (tmp_docs / "answers.md").read_text() == first


def test_corrupt_results_json_is_one_clear_error_and_changes_nothing(tmp_path, tmp_docs):
    results = write_results(tmp_path / "results", fake_results())
    report.build(results, tmp_docs)
    stored = (tmp_docs / "data" / "tune.json").read_text()
    (results / "ray_tuning" / "tune.json").write_text(json.dumps({"x": 1}) + "}")   # one brace too many
    (results / "tuning" / "baseline.json").write_text('{"unfinished": ')
    with pytest.raises(UserError, match=r"baseline\.json is not readable JSON .*rerun `stacklab baseline"):
        report.build(results, tmp_docs)
    assert (tmp_docs / "data" / "tune.json").read_text() == stored
    proc = run_cli("report", "--results", results, "--docs", tmp_docs)
    assert proc.returncode == 2
    assert_one_line_error(proc, "baseline.json", "not readable JSON")


def test_corrupt_stored_data_is_one_clear_error(tmp_docs):
    (tmp_docs / "data").mkdir()
    (tmp_docs / "data" / "fl.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"fl\.json holds a JSON list, not an object"):
        report.render(tmp_docs)


def test_lab_step_renders_the_lab_results_beside_them_not_into_docs(tmp_path):
    partial = {k: v for k, v in fake_results().items() if k in ("baseline", "fl", "fl_noniid")}
    before = (DOCS / "results.md").read_text()
    row = report.lab_step(write_results(tmp_path / "results", partial))
    assert row["part"] == "report" and row["value"] == f"3 of {len(report.SOURCES)}"
    out = (tmp_path / "results" / "report" / "results.md").read_text()
    assert "**0.7212**" in out and "not measured yet" in out
    assert (tmp_path / "results" / "report" / "img" / "report_fl_iid_vs_noniid.png").is_file()
    assert (DOCS / "results.md").read_text() == before


def test_report_elsewhere_uses_the_repository_templates_and_needs_a_results_dir(tmp_path):
    docs = tmp_path / "elsewhere"
    proc = run_cli("report", "--results", tmp_path / "missing", "--docs", docs)
    assert proc.returncode == 2
    assert_one_line_error(proc, "no results directory", "--results")
    results = write_results(tmp_path / "results", {"baseline": fake_results()["baseline"]})
    proc = run_cli("report", "--results", results, "--docs", docs, check=True)
    assert "report: results found for baseline" in proc.stdout
    assert "**0.7212**" in (docs / "results.md").read_text()
    assert not (docs / "templates").exists()
