"""Fixtures for the model tests: the shipped models and simulator windows.

No TensorFlow here: everything runs on the box's LiteRT interpreter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance.models.registry import SHIPPED_DIR
from models.runtime import load_model
from models.training import data_sim

VIB_DIR = SHIPPED_DIR / "vibration-anomaly"
VISION_DIR = SHIPPED_DIR / "part-inspection"


@pytest.fixture(scope="session")
def vib_model():
    return load_model(VIB_DIR)


@pytest.fixture(scope="session")
def vision_model():
    return load_model(VISION_DIR)


@pytest.fixture(scope="session")
def normal_windows():
    # Two minutes of free-running demo operation per seed: running, starts, stops.
    out = []
    for seed in (9001, 9002):
        out += list(data_sim.simulate(seed=seed, duration_s=90, mean_run_s=40.0, mean_stop_s=15.0))
    return out


@pytest.fixture(scope="session")
def fault_windows():
    return {f: data_sim.fault_windows(f, seeds=[9100], duration_s=8.0) for f in data_sim.EVAL_FAULTS}


@pytest.fixture()
def model_copy(tmp_path: Path):
    """A writable copy of a shipped model folder."""

    def make(src: Path = VIB_DIR, name: str = "m") -> Path:
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst

    return make
