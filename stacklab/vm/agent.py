"""Commands inside a VM through qemu-guest-agent: no SSH, no network needed.

QEMU exposes the agent's virtio-serial port as a unix socket on the host
(``-chardev socket,server=on``). The protocol is one JSON object per line.
A fresh connection may hold stale bytes from an earlier client or a guest
that was still booting, so every session starts with guest-sync and a
random id, and replies are read until that id comes back.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import time
from typing import Any

from stacklab.core.errors import UserError


class AgentTimeout(Exception):
    """The agent did not answer in time (the VM may still be booting)."""


class Agent:
    def __init__(self, path: str, timeout: float = 10) -> None:
        self.path, self.timeout = path, timeout

    def _session(self, timeout: float) -> tuple[socket.socket, bytearray]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise AgentTimeout(f"cannot connect to {self.path}: {exc}") from None
        buf = bytearray()
        token = random.randint(1, 2**31)
        try:
            self._send(sock, "guest-sync", {"id": token})
            while self._read(sock, buf) != {"return": token}:
                pass
        except BaseException:
            sock.close()
            raise
        return sock, buf

    @staticmethod
    def _send(sock: socket.socket, command: str, arguments: dict[str, Any] | None) -> None:
        msg: dict[str, Any] = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        try:
            sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as exc:  # QEMU gone or the connection reset
            raise AgentTimeout(f"guest agent: {exc}") from None

    @staticmethod
    def _read(sock: socket.socket, buf: bytearray) -> Any:
        while b"\n" not in buf:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AgentTimeout("no answer from the guest agent") from None
            if not chunk:
                raise AgentTimeout("the guest agent closed the connection")
            buf.extend(chunk)
        line, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        try:
            return json.loads(line.decode(errors="replace").lstrip("\xff"))
        except json.JSONDecodeError:
            return None  # a torn line from before the sync: skip it

    def call(self, command: str, arguments: dict[str, Any] | None = None,
             timeout: float | None = None) -> Any:
        sock, buf = self._session(timeout or self.timeout)
        with sock:
            self._send(sock, command, arguments)
            reply = None
            while not (isinstance(reply, dict) and ("return" in reply or "error" in reply)):
                reply = self._read(sock, buf)  # blank or torn lines are skipped
        if "error" in reply:
            raise UserError(f"guest agent: {command}: {reply['error'].get('desc', reply['error'])}")
        return reply["return"]

    def ping(self, timeout: float = 5) -> bool:
        try:
            self.call("guest-ping", timeout=timeout)
            return True
        except AgentTimeout:
            return False

    def exec(self, cmd: str, timeout: float = 600, stdin: str | None = None) -> tuple[int, str, str]:
        """Run ``sh -c cmd`` in the guest as root; (exit code, stdout, stderr)."""
        args: dict[str, Any] = {"path": "/bin/sh", "arg": ["-c", cmd], "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin.encode()).decode()
        pid = self.call("guest-exec", args)["pid"]
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            status = self.call("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                break
            if time.monotonic() > deadline:
                raise UserError(f"`{cmd[:60]}` still running in the VM after {timeout:.0f} s "
                                "(it keeps running there): raise --timeout or check the VM")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

        def text(key: str) -> str:
            return base64.b64decode(status.get(key, "")).decode(errors="replace")

        code = status.get("exitcode", 128 + status.get("signal", 0))
        return code, text("out-data"), text("err-data")
