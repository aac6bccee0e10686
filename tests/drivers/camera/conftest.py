"""Fixtures for the camera tests: a bus that records samples, a replay folder."""

from __future__ import annotations

import pytest

from appliance.bus import Bus
from drivers.camera.replay import write_replay_folder
from tests.conftest import SampleCollector, wait_until

# One collector and one async wait for every driver test (tests/conftest.py).
Recorder = SampleCollector
wait_for = wait_until


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
