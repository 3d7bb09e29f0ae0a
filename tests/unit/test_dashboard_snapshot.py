"""The lab requires a snapshot of the FL dashboard: it is committed, and it shows a real, finished session.

`stacklab fl run` (and `fl swarm-run`) takes it with headless Chromium after
the session (stacklab/federated/dashboard/snapshot.py) and writes, next to
fl.json, dashboard.png and dashboard.json (what the page showed);
`stacklab report` copies them to docs/img/fl_dashboard.png and
docs/data/fl_dashboard.json. Fails until a real run's snapshot is committed.
"""

from __future__ import annotations

import json

import pytest

from stacklab.federated.dashboard.snapshot import png_size
from stacklab.report import pages as report
from tests.conftest import REPO

DOCS = REPO / "docs"


@pytest.mark.parametrize("key", ["fl", "fl_swarm"])   # local processes, the 3-node Swarm
def test_the_committed_dashboard_snapshot_shows_the_committed_session(key):
    png, meta_file = DOCS / "img" / f"{key}_dashboard.png", DOCS / "data" / f"{key}_dashboard.json"
    fix = f"run `{report.SOURCES[key][1]}`, then `stacklab report`, and commit docs/"
    assert png.is_file() and meta_file.is_file(), f"no dashboard snapshot in docs/: {fix}"
    meta = json.loads(meta_file.read_text())
    session = json.loads((DOCS / "data" / f"{key}.json").read_text())
    # a screenshot of the page, at the size it was taken, with something drawn on it
    assert png_size(png) == tuple(meta["size"]) and png.stat().st_size > 20000
    # of the very session whose numbers the docs quote, finished, every round and client on it
    assert meta["session_id"] == session["session_id"], f"the snapshot shows another session: {fix}"
    assert meta["status"] == "Finished"
    assert meta["rounds_finished"] == meta["rounds_requested"] == len(session["rounds"])
    assert meta["clients"] == sorted(session["clients"])
    assert meta["clients_online"] == len(session["clients"])
    assert meta["data_source"], "the page did not say where its data came from"


def test_results_and_answers_show_the_snapshot():
    results = (DOCS / "results.md").read_text()
    assert "](img/fl_dashboard.png)" in results
    assert "](img/fl_dashboard.png)" in (DOCS / "answers.md").read_text()
    assert "](img/fl_swarm_dashboard.png)" in results
    assert "](img/fl_swarm_dashboard.png)" in (DOCS / "answers.md").read_text()
