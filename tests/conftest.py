"""Shared fixtures: free loopback ports, a data dir, a config on disk."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], Any], *, timeout_s: float = 20.0, what: str = "condition",
             every_s: float = 0.05) -> Any:
    """Poll ``cond`` until it returns something true (which is returned), or fail.
    For peers in other processes, where no event can be awaited."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # the peer may still be starting: keep polling until the deadline
            last_exc = exc
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


async def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition", *,
                     every_s: float = 0.002) -> Any:
    """In a test's event loop: poll ``condition`` until it returns something true (which is returned);
    fail with ``what`` after ``timeout`` s (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every_s)


class SampleCollector:
    """A fast bus subscriber that keeps every sample and the thread it came in."""

    def __init__(self, bus: Any) -> None:
        self.samples: list[Any] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()
        bus.subscribe_fast(self)

    def __call__(self, sample: Any) -> None:
        with self._lock:
            self.samples.append(sample)
            self.threads.append(threading.get_ident())

    def values(self, signal: str) -> list[object]:
        with self._lock:
            return [s.value for s in self.samples if s.signal == signal]

    def of(self, signal: str) -> list[Any]:
        with self._lock:
            return [s for s in self.samples if s.signal == signal]


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """An in-process ``werkvloer core`` (``appliance.cli.main(["core", ...])``)
    sets up the process's logging: it replaces the root logger's handlers with
    a StreamHandler on the ``sys.stderr`` of that moment, which is this test's
    capture stream. Left in place, every later log line (a thread of another
    test included) hits the closed stream ("--- Logging error --- I/O operation
    on closed file"). Each test gets the root logger back as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.delenv("WERKVLOER_DATA_DIR", raising=False)
    return d


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: this interpreter, no systemd sockets."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "WERKVLOER_DATA_DIR")}
    env["PYTHONPATH"] = str(ROOT)
    return env


PY = sys.executable


def model_version(src: Path, dst: Path, version: str) -> Path:
    """A copy of model folder ``src`` at ``dst`` with another version in its manifest (sha256 recomputed)."""
    import hashlib
    import json
    import shutil

    shutil.copytree(src, dst)
    raw = json.loads((dst / "manifest.json").read_text())
    raw["version"] = version
    raw["sha256"] = hashlib.sha256((dst / "model.tflite").read_bytes()).hexdigest()
    (dst / "manifest.json").write_text(json.dumps(raw))
    return dst
