"""Fixtures for the GPIO driver tests: a mock pin factory per test (no global
``Device.pin_factory``), a controlled clock, a bus that records samples."""

from __future__ import annotations

import pytest

from appliance.bus import Bus
from drivers.gpio import make_pin_factory
from tests.conftest import SampleCollector, wait_until


class FakeClock:
    """Monotonic nanoseconds that move only when the test says so."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.t = start_ns

    def __call__(self) -> int:
        return self.t

    def advance_ms(self, ms: float) -> None:
        self.t += int(ms * 1_000_000)


# One collector and one async wait for every driver test (tests/conftest.py).
Recorder = SampleCollector
wait_for = wait_until


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
