"""Issue 16: kill -9 of a real OPC UA server process while the box is
subscribed, then a restart on the same port, repeatedly.

With the defaults (reconnect 1 s doubling to 30 s) the box must have data
again soon after the restarted server accepts sessions, every time, and log
each outage in two lines (one ERROR, one INFO) without tracebacks or library
lines. ``WERKVLOER_SOAK_RESTARTS`` sets the count: a few in the suite, 50 in
``make soak`` (which also checks the 2 s target of the issue; the suite only
waits with a deadline, a loaded CI machine must not fail it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import time
from collections.abc import Iterator

import pytest

from appliance.bus import Bus
from appliance.notify import LIBRARY_LEVELS, quiet_libraries
from drivers.opcua.config import OpcuaServer
from drivers.opcua.simserver import node_id
from drivers.opcua.source import OpcuaSource
from tests.conftest import PY, ROOT, free_port

from .conftest import until

RESTARTS = int(os.environ.get("WERKVLOER_SOAK_RESTARTS", "3"))
SOAK = "WERKVLOER_SOAK_RESTARTS" in os.environ


@pytest.fixture
def box_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The box's own log setup: root at INFO, the libraries quietened."""
    before = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    caplog.set_level(logging.INFO)
    quiet_libraries()
    try:
        yield caplog
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


class ServerProcess:
    """The simulator's OPC UA server in a child process, killed with SIGKILL."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    async def start(self) -> float:
        """Start it; the monotonic time at which it printed ``ready`` (it accepts sessions)."""
        self.proc = subprocess.Popen([PY, "-m", "appliance.simulator.opcua_server", "--port", str(self.port)],
                                     env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        ready = time.monotonic()
        assert line.startswith("ready "), f"simulator server did not start: {line!r}"
        return ready

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


async def test_kill_9_restarts_recover_with_two_log_lines_each(box_logging: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = ServerProcess(port)
    bus = Bus()
    queue = bus.subscribe_queue("test")
    cfg = OpcuaServer(name="cell", url=f"opc.tcp://127.0.0.1:{port}", publishing_interval_ms=100,
                      signals=[{"name": "energy_kwh", "node_id": node_id("energy_kwh")}])
    times: list[float] = []
    try:
        await server.start()
        async with OpcuaSource(cfg, bus) as source:
            await source.wait_connected(15)
            box_logging.clear()
            for _ in range(RESTARTS):
                await until(lambda: any(s.good for s in queue.drain()), what="data before the kill")
                server.kill()
                await until(lambda: not source.health.available, what="loss detected")
                # Down long enough for the backoff to grow past the restart time.
                await asyncio.sleep(0.5)
                ready = await server.start()
                queue.drain()
                sample = await until(lambda: next((s for s in queue.drain() if s.good), None), timeout=30,
                                     what="data after the restart")
                times.append(max(0.0, sample.mono_ns / 1e9 - ready))
    finally:
        server.kill()
    records = [r for r in box_logging.records if r.levelno >= logging.INFO]
    text = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records]
    assert not [r for r in records if r.exc_info], "no tracebacks for an expected fault"
    assert not [r for r in records if r.name.startswith("asyncua")], text
    assert sum(r.levelno == logging.ERROR for r in records) == RESTARTS, text
    assert sum("available again" in r.getMessage() for r in records) == RESTARTS, text
    assert len(records) <= 2 * RESTARTS, text
    print(f"\nOPC UA kill -9 restarts: {len(times)}/{RESTARTS} recovered; time from 'accepting sessions' to data: "
          f"p50 {statistics.median(times):.2f} s, max {max(times):.2f} s")
    assert len(times) == RESTARTS
    if SOAK:
        assert max(times) < 2.0, times
