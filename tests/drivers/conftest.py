"""Fixtures every driver test may use: a real bus and a collector of what it carries."""

from __future__ import annotations

import pytest

from appliance.bus import Bus
from tests.conftest import SampleCollector


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def recorder(bus: Bus) -> SampleCollector:
    return SampleCollector(bus)
