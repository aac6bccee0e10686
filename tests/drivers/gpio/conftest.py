"""Fixtures for the GPIO driver tests: a mock pin factory per test (no global
``Device.pin_factory``), a controlled clock, a bus that records samples."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from appliance.bus import Bus
from appliance.samples import Sample
from drivers.gpio import make_pin_factory


class FakeClock:
    """Monotonic nanoseconds that move only when the test says so."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.t = start_ns

    def __call__(self) -> int:
        return self.t

    def advance_ms(self, ms: float) -> None:
        self.t += int(ms * 1_000_000)


class Recorder:
    """A fast bus subscriber that keeps every sample and the thread it came in."""

    def __init__(self, bus: Bus) -> None:
        self.samples: list[Sample] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()
        bus.subscribe_fast(self)

    def __call__(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)
            self.threads.append(threading.get_ident())

    def values(self, signal: str) -> list[object]:
        with self._lock:
            return [s.value for s in self.samples if s.signal == signal]

    def of(self, signal: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.signal == signal]


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` s (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f} s")
        await asyncio.sleep(0.002)


@pytest.fixture
def factory():
    f = make_pin_factory("mock", env={})
    yield f
    f.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def recorder(bus: Bus) -> Recorder:
    return Recorder(bus)
