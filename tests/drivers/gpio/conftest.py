"""Fixtures for the GPIO driver tests: a mock pin factory per test (no global
``Device.pin_factory``) and a controlled clock (the bus and its recorder: tests/drivers/conftest.py)."""

from __future__ import annotations

import pytest

from drivers.gpio import make_pin_factory
from tests.conftest import wait_until


class FakeClock:
    """Monotonic nanoseconds that move only when the test says so."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.t = start_ns

    def __call__(self) -> int:
        return self.t

    def advance_ms(self, ms: float) -> None:
        self.t += int(ms * 1_000_000)


# One async wait for every driver test (tests/conftest.py).
wait_for = wait_until


@pytest.fixture
def factory():
    f = make_pin_factory("mock", env={})
    yield f
    f.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
