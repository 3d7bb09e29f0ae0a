"""`fl run` waits out a busy FEDn API and fails at once when nothing listens."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stacklab.core.errors import UserError
from stacklab.federated.api import FednApi


@pytest.fixture
def api_server():
    """A /health endpoint whose first `slow` answers take longer than the probe waits, then `status`."""
    state = {"slow": 0, "status": 200, "calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["calls"] += 1
            if state["calls"] <= state["slow"]:
                time.sleep(0.6)
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def test_slow_answers_are_waited_out(api_server):
    url, state = api_server
    state["slow"] = 2
    lines: list[str] = []
    FednApi(url).wait_healthy(grace=30, probe_timeout=0.3, log=lines.append)
    assert state["calls"] == 3
    assert len(lines) == 1 and "did not answer /health within" in lines[0]


def test_an_api_that_keeps_failing_is_one_line_after_the_grace(api_server):
    url, state = api_server
    state["status"] = 503
    start = time.monotonic()
    with pytest.raises(UserError, match=r"answers HTTP 503 after 2 s of retries"):
        FednApi(url).wait_healthy(grace=2, probe_timeout=0.3)
    assert 2 <= time.monotonic() - start < 10
    assert state["calls"] >= 2


def test_nothing_listening_fails_at_once():
    with socket.socket() as sock:          # a port that was free a moment ago and now refuses
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(UserError, match="is unreachable: run `stacklab fl up` first"):
        FednApi(f"http://127.0.0.1:{port}").wait_healthy(grace=60)
    assert time.monotonic() - start < 5
