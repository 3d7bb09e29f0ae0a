"""The dashboard as an examiner sees it: a headless Chromium screenshot, the HTML it drew, and what it showed.

`snapshot` serves the dashboard on a free port, has Chromium (Debian's
package, installed by scripts/system-deps.sh) dump the rendered page and take
a PNG of it, each with a new empty profile and every background service off
(no network but the dashboard's own). `capture` does the same for any running
dashboard, e.g. the Swarm stack's on its base node (`fl snapshot --url`). dashboard.json records the session, its
rounds and clients next to the files, so a reader (stacklab report, a test)
can tell that the picture came from a real, finished session.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from stacklab.core.errors import UserError
from stacklab.core.results import write_atomic, write_json
from stacklab.federated.config import FLConfig

SIZE = (1200, 1100)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=5000")
CHROMIUM_TIMEOUT_S = 180.0


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise UserError("chromium is not installed: run scripts/system-deps.sh (Debian package chromium)")


def chromium(*args: str) -> subprocess.CompletedProcess:
    """One headless Chromium run with a fresh, empty profile."""
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="stacklab-chromium-") as profile:
        try:
            proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                                  capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"chromium took over {CHROMIUM_TIMEOUT_S:.0f} s for the dashboard: "
                            "is the machine overloaded? retry `stacklab fl snapshot`") from None
    return proc


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None if the file is not a PNG."""
    head = path.read_bytes()[:24] if path.is_file() else b""
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _shoot(url: str, shown: dict, out: Path, size: tuple[int, int], source: str) -> dict:
    """Chromium's rendered DOM and PNG of url, which shows the dashboard document ``shown``."""
    session = shown.get("session")
    if not shown.get("ok"):
        raise UserError(f"the dashboard cannot read FEDn's API ({shown.get('error')}): is the federation up?")
    if not session:
        raise UserError("FEDn has no session to show yet: run `stacklab fl run` first")
    png, html = out / "dashboard.png", out / "dashboard.html"
    dom = chromium("--dump-dom", url)
    if "API reachable" not in dom.stdout:
        raise UserError(f"the dashboard page rendered no data (chromium: {dom.stderr.strip()[-200:]}): "
                        f"open {url} to see why")
    write_atomic(html, dom.stdout)
    png.unlink(missing_ok=True)
    shot = chromium(f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", url)
    if png_size(png) is None:
        raise UserError(f"chromium wrote no screenshot ({shot.stderr.strip()[-200:]}): see the message above")
    meta = {"png": png.name, "html": html.name, "size": list(png_size(png) or size), "api": shown.get("api"),
            "dashboard": source, "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "session_id": session["id"], "session_name": session.get("name"), "status": session.get("status"),
            "rounds_requested": session.get("rounds_requested"), "rounds_finished": session.get("rounds_finished"),
            "clients": sorted({n for r in session["rounds"] for n in r["accuracy"]}),
            "clients_online": shown.get("clients_online"), "data_source": shown.get("data_source")}
    write_json(out / "dashboard.json", meta)
    return meta


def capture(base_url: str, out_dir: str | Path, session_id: str | None = None, size: tuple[int, int] = SIZE) -> dict:
    """dashboard.png + .html + .json in out_dir from a running dashboard reachable from here."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/") + "/"
    query = f"?session={session_id}" if session_id else ""
    try:
        shown = requests.get(f"{base_url}data.json{query}", timeout=120).json()
    except (requests.RequestException, ValueError) as exc:
        raise UserError(f"no dashboard answers at {base_url} ({exc.__class__.__name__}): "
                        "start it (`stacklab fl dashboard`) or pass its URL") from None
    session = (shown.get("session") or {}).get("id")
    return _shoot(f"{base_url}?session={session}" if session else base_url, shown, out, size, base_url)


def capture_page(page: str, out_dir: str | Path, source: str, size: tuple[int, int] = SIZE) -> dict:
    """The same from a page the dashboard served (its data inside), e.g. fetched in a Swarm container."""
    from stacklab.federated.dashboard.server import INITIAL_MARK

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = page.find("const INITIAL = ")
    try:
        shown, _ = json.JSONDecoder().raw_decode(page, start + len("const INITIAL = ")) if start >= 0 else (None, 0)
    except ValueError:
        shown = None
    if not isinstance(shown, dict):
        raise UserError(f"the page from {source} carries no dashboard data (no {INITIAL_MARK.decode()} filled in): "
                        "is it the stacklab dashboard?")
    with tempfile.TemporaryDirectory(prefix="stacklab-dashboard-") as tmp:
        saved = Path(tmp) / "page.html"
        saved.write_text(page)
        return _shoot(saved.as_uri(), shown, out, size, source)


def snapshot(cfg: FLConfig, out_dir: str | Path, session_id: str | None = None,
             size: tuple[int, int] = SIZE) -> dict:
    """`capture` of our own dashboard over cfg's federation, served on a free port for the purpose."""
    from stacklab.federated.dashboard.server import serve_in_thread

    server = serve_in_thread(cfg, port=0)
    try:
        return capture(f"http://127.0.0.1:{server.server_address[1]}/", out_dir, session_id, size)
    finally:
        server.shutdown()
        server.server_close()


def noted(take: Callable[[], dict], out_dir: str | Path, log=print) -> dict | None:
    """Run a snapshot after a session: its absence is a note, not a failure (the results stand)."""
    try:
        meta = take()
    except UserError as exc:
        log(f"no dashboard snapshot: {exc}")
        return None
    log(f"dashboard snapshot {Path(out_dir) / meta['png']} ({meta['rounds_finished']} rounds, "
        f"clients {', '.join(meta['clients'])})")
    return meta


def snapshot_after_session(cfg: FLConfig, out_dir: str | Path, session_id: str, log=print) -> dict | None:
    """The snapshot a finished session gets (fl run, stacklab lab)."""
    return noted(lambda: snapshot(cfg, out_dir, session_id), out_dir, log)
