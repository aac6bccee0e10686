"""Fixtures for the camera tests: a replay folder (the bus and its recorder: tests/drivers/conftest.py)."""

from __future__ import annotations

import pytest

from drivers.camera.replay import write_replay_folder
from tests.conftest import wait_until

# One async wait for every driver test (tests/conftest.py).
wait_for = wait_until


@pytest.fixture
def replay(tmp_path):
    folder = tmp_path / "replay"
    write_replay_folder(folder, count=5, width=160, height=120)
    return folder
