"""`stacklab fl dashboard`: one HTML page + /data.json, served by the standard library.

The page polls /data.json every 2 s; the server builds it from FEDn's REST
API (adding the admin token when auth is on), so the browser never talks to
FEDn directly and no CDN or internet is needed. The page is also served with
that document already in it, so its first paint shows the data (what a
headless screenshot captures) without waiting for a fetch.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from stacklab.core.constants import DASHBOARD_PORT
from stacklab.core.errors import UserError
from stacklab.federated.api import FednApi
from stacklab.federated.config import FLConfig
from stacklab.federated.dashboard.data import collect, global_scorer


def page() -> bytes:
    return resources.files("stacklab.federated.dashboard").joinpath("index.html").read_bytes()


INITIAL_MARK = b"/*INITIAL*/null"


def with_data(html: bytes, data: dict) -> bytes:
    """The page with ``data`` in place of its INITIAL mark ("</" escaped so it cannot close the script)."""
    return html.replace(INITIAL_MARK, json.dumps(data).replace("</", "<\\/").encode(), 1)


def make_server(cfg: FLConfig, host: str = "127.0.0.1", port: int = DASHBOARD_PORT) -> ThreadingHTTPServer:
    api = FednApi.from_config(cfg)
    html = page()
    scorer = global_scorer(api, cfg.path("global_test.npz"))

    settings = cfg.client_dir(1) / "client.json"  # written by `fl up`: where the clients' data came from
    source = json.loads(settings.read_text()).get("source") if settings.is_file() else None

    def document(session: str | None) -> dict:
        return {**collect(api, session, scorer), "api": cfg.api_url, "data_source": source}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            session = (parse_qs(url.query).get("session") or [None])[0]
            if url.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", with_data(html, document(session)))
            elif url.path == "/data.json":
                self._send(200, "application/json", json.dumps(document(session)).encode())
            elif url.path == "/health":
                self._send(200, "text/plain", b"OK")
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep the terminal for our own lines
            pass

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise UserError(f"cannot serve the dashboard on {host}:{port} ({exc.strerror}): pass --port") from None


def serve(cfg: FLConfig, host: str = "127.0.0.1", port: int = DASHBOARD_PORT) -> None:
    server = make_server(cfg, host, port)
    print(f"fl dashboard: http://{host}:{server.server_address[1]}/  (FEDn API {cfg.api_url}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve_in_thread(cfg: FLConfig, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """For tests and notebooks: the server runs in a daemon thread; call .shutdown() when done."""
    server = make_server(cfg, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
