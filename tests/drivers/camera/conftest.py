"""Fixtures for the camera tests: a bus that records samples, a replay folder."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from appliance.bus import Bus
from appliance.samples import Sample
from drivers.camera.replay import write_replay_folder


class Recorder:
    """A fast bus subscriber that keeps every sample."""

    def __init__(self, bus: Bus) -> None:
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        bus.subscribe_fast(self)

    def __call__(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

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
def bus() -> Bus:
    return Bus()


@pytest.fixture
def recorder(bus: Bus) -> Recorder:
    return Recorder(bus)


@pytest.fixture
def replay(tmp_path):
    folder = tmp_path / "replay"
    write_replay_folder(folder, count=5, width=160, height=120)
    return folder
