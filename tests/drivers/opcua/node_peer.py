"""An independent OPC UA server for interop tests: node-opcua (Node.js), not asyncua.

``wire.py`` and the source use asyncua's codec; against asyncua's own server an
encoding or security bug on both ends would cancel out. node-opcua is another
implementation (``tests/peers/opcua-node/``: its pinned package-lock.json and
``server.js``; ``make test`` runs ``npm ci`` there). The server runs in a child
process on 127.0.0.1 and is driven over its stdin ("set Speed 1.5"); each write
of ``Cell.Stop`` by a client arrives as a "stop <value>" line, which the tests
await (:meth:`NodePeer.wait_stop`) instead of polling the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import ROOT, free_port

PEER_DIR = ROOT / "tests" / "peers" / "opcua-node"
USER, PASSWORD = "operator", "geheim"


def node_id(name: str) -> str:
    return f"ns=1;s=Cell.{name}"


def _need_install() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (the interop peer needs node >= 20; Debian: apt-get install nodejs npm)"
    if not (PEER_DIR / "node_modules" / "node-opcua").is_dir():
        return f"node-opcua is not installed: run `make test` or `npm ci` in {PEER_DIR.relative_to(ROOT)}"
    return None


class NodePeer:
    """node-opcua's server in a child process; :meth:`kill` (SIGKILL) and :meth:`start` again on the same port."""

    def __init__(self, pki_dir: Path, *, port: int | None = None, token_lifetime_ms: int | None = None,
                 receive_buffer: int | None = None) -> None:
        problem = _need_install()
        if problem:
            pytest.fail(problem, pytrace=False)
        self.pki_dir = pki_dir
        self.port = port or free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}"
        self.token_lifetime_ms = token_lifetime_ms
        self.receive_buffer = receive_buffer  # the ACK's ReceiveBufferSize (a small PLC); it sends 64 KiB chunks
        self.proc: subprocess.Popen[str] | None = None
        self._cond = threading.Condition()
        self._lines: list[str] = []  # everything the server printed, for failure messages
        self._replies: list[str] = []
        self.stops: list[str] = []  # "true"/"false" per client write of Cell.Stop, in order
        self._ready = False
        self.starts = 0

    # ----- lifecycle -------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> NodePeer:
        cmd = ["node", str(PEER_DIR / "server.js"), "--port", str(self.port), "--pki", str(self.pki_dir),
               "--user", USER, "--password", PASSWORD]
        if self.token_lifetime_ms is not None:
            cmd += ["--token-lifetime-ms", str(self.token_lifetime_ms)]
        if self.receive_buffer is not None:
            cmd += ["--receive-buffer", str(self.receive_buffer)]
        with self._cond:
            self._ready = False
            self._replies.clear()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, cwd=PEER_DIR, start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc.stdout,), name="node-opcua-out", daemon=True).start()
        self.starts += 1
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self.proc is None or self.proc.poll() is not None,
                                       timeout):
                raise AssertionError(f"node-opcua did not get ready in {timeout} s:\n{self.output()}")
            if not self._ready:
                raise AssertionError(f"node-opcua exited:\n{self.output()}")
        return self

    def kill(self) -> None:
        """kill -9: no goodbye on any socket (a PLC losing power)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(10)

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.close()  # the server shuts down cleanly when its stdin closes
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def __enter__(self) -> NodePeer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----- control -----------------------------------------------------------------------
    def command(self, line: str, timeout: float = 10.0) -> str:
        proc = self.proc
        assert proc is not None and proc.stdin is not None, "node-opcua is not running"
        with self._cond:
            self._replies.clear()
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: self._replies, timeout):
                raise AssertionError(f"node-opcua did not answer {line!r}:\n{self.output()}")
            reply = self._replies.pop(0)
        if reply.startswith("error"):
            raise AssertionError(f"node-opcua: {line!r}: {reply}")
        return reply

    def set(self, name: str, value: Any) -> None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        self.command(f"set {name} {text}")

    def get(self, name: str) -> str:
        return self.command(f"get {name}").split(" ", 1)[1]

    def wait_stop(self, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until the server saw ``count`` writes of Cell.Stop in total; returns them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.stops) >= count, timeout):
                raise AssertionError(f"node-opcua saw {self.stops} writes of Cell.Stop, expected {count}:\n"
                                     f"{self.output()}")
            return list(self.stops)

    def output(self) -> str:
        with self._cond:
            return "\n".join(self._lines[-40:])

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            with self._cond:
                self._lines.append(line)
                if line.startswith("ready "):
                    self._ready = True
                elif line.startswith("stop "):
                    self.stops.append(line.split(" ", 1)[1])
                elif line == "ok" or line.startswith(("value ", "error ")):
                    self._replies.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()
