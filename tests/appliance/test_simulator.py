"""The machine simulator: deterministic timelines, faults that show in the signals, the control port."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from appliance.errors import ConfigError
from appliance.simulator.run import Simulator, control_request, load_timeline
from models.training.machine import MachineSim, MachineState
from tests.conftest import free_port


def write_timeline(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "timeline.toml"
    p.write_text(text)
    return p


def test_timeline_is_deterministic(tmp_path: Path) -> None:
    steps = load_timeline(write_timeline(tmp_path, """
[[step]]
at_s = 0
state = "running"
[[step]]
at_s = 60
state = "down"
[[step]]
at_s = 90
state = "running"
scrap_next = 2
"""))
    runs = []
    for _ in range(2):
        sim = MachineSim(seed=7, timeline=list(steps))
        sim.advance(155)
        runs.append((sim.values(), sim.vibration_block(64)))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1][0] == runs[1][1][0] and np.allclose(runs[0][1][1], runs[1][1][1])
    values = runs[0][0]
    # Product 1 makes a part every 12 s while running: 60 s + 65 s running = 10.4 cycles = 10 parts;
    # the first 2 after 90 s are scrap.
    assert values["part_count"] == 10 and values["scrap_count"] == 2 and values["good_count"] == 8


def test_bad_timeline_names_the_step(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_timeline(write_timeline(tmp_path, '[[step]]\nat_s = 0\nstate = "flying"\n[[step]]\nstate = "down"\n'))
    paths = dict(exc.value.problems)
    assert "step[0].state" in paths and "step[1].at_s" in paths


def test_faults_show_in_the_signals() -> None:
    sim = MachineSim(seed=1, timeline=[])
    sim.set_state(MachineState.RUNNING)
    sim.advance(30)
    healthy = sim.values()
    rms_healthy = float(np.sqrt(np.mean(np.square(sim.vibration_block(2000)[1]))))
    sim.inject("jam")
    sim.advance(5)
    jammed = sim.values()
    assert jammed["motor_current"] > 20 > healthy["motor_current"]
    assert jammed["spindle_speed"] < 100 and jammed["running"]  # the PLC still says running
    parts = jammed["part_count"]
    sim.advance(30)
    assert sim.values()["part_count"] == parts  # the counter stalls
    sim.clear()
    sim.inject("imbalance")
    sim.advance(5)
    rms_imbalance = float(np.sqrt(np.mean(np.square(sim.vibration_block(2000)[1]))))
    assert rms_imbalance > 2 * rms_healthy
    sim.inject("sensor_dropout")
    sim.advance(1)
    assert math.isnan(sim.values()["temperature"])
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("gremlins")


def test_vibration_sequence_has_no_gaps() -> None:
    sim = MachineSim(seed=3)
    sim.advance(0.5)
    seq1, block1 = sim.vibration_block(100)
    sim.advance(0.05)
    seq2, block2 = sim.vibration_block(100)
    assert seq2 == seq1 + 100 and len(block1) == len(block2) == 100  # 2 kHz x 50 ms


async def test_control_port_injects_and_reports() -> None:
    port = free_port()
    async with Simulator(MachineSim(seed=1), modbus_port=0, opcua_port=0, control_port=port) as simulator:
        import asyncio

        reply = await asyncio.to_thread(control_request, "127.0.0.1", port, {"op": "inject", "fault": "overload"})
        assert reply["ok"] and reply["faults"] == {"overload": 1.0}
        assert simulator.sim.faults == {"overload": 1.0}
        bad = await asyncio.to_thread(control_request, "127.0.0.1", port, {"op": "explode"})
        assert not bad["ok"] and "unknown op" in bad["error"]
        state = await asyncio.to_thread(control_request, "127.0.0.1", port, {"op": "state", "state": "setup"})
        assert state["values"]["machine_state"] == int(MachineState.SETUP)


def test_a_held_state_stays_until_the_hold_ends() -> None:
    """Without a hold a drawn stop can end within a fraction of a second; a held one
    stays for exactly ``hold_s`` (tests that need a real stop ask for one)."""
    sim = MachineSim(seed=5)
    sim.mean_stop_s = 0.1  # drawn stops are short: the hold is what keeps it down
    sim.set_state("down", hold_s=5.0)
    sim.advance(4.9)
    assert sim.state.name == "DOWN"
    with pytest.raises(ValueError):
        sim.set_state("down", hold_s=-1)
