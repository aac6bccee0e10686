"""A gated model that can never score is an alert (guard.models[].while_signal_timeout_s).

The real vibration model; its gate signal ``running`` comes from a real PLC (modbus-tk) through the
core's ModbusSource and the bus, as on the box. A machine that stands still is not an alert; a gate
signal with bad quality, or whose source is down, is one alert, and one more when it is back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.bus import Bus
from appliance.config import BoxConfig
from appliance.guard import Guard
from appliance.guard.config import GuardConfig
from appliance.models.registry import SHIPPED_DIR
from drivers.modbus import ModbusSource
from drivers.samples import Quality, Sample
from models.runtime import load_model
from models.training.machine import MachineSim
from tests.drivers.modbus.conftest import TkServer

from ..conftest import free_port
from .conftest import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:isSet:DeprecationWarning")  # inside modbus-tk

RUNNING = 12  # holding register of the PLC's running bit (0/1; a fault code above 1 is bad quality)
LIMIT_S = 1.0  # while_signal_timeout_s


class Core:
    """The PLC, the core's ModbusSource on a real event loop, the bus and a guard subscribed to it."""

    def __init__(self, tmp_path: Path, sink: Any) -> None:
        self.plc = TkServer(free_port()).__enter__()
        box = BoxConfig.model_validate({"sources": {"modbus": [{
            "name": "press", "port": self.plc.port, "poll_interval_ms": 20, "backoff_min_s": 0.05,
            "signals": [{"name": "running", "address": RUNNING, "max_value": 1}]}]}})
        gcfg = GuardConfig.model_validate({"mode": "shadow", "models": [{
            "name": "spindle", "model": "vibration-anomaly", "inputs": ["vibration", "motor_current"],
            "while_signal": "running", "settle_s": 0, "while_signal_timeout_s": LIMIT_S}]})
        self.bus = Bus()
        self.seen = self.bus.subscribe_queue("test")
        self.guard = Guard(gcfg, alert_sink=sink, db_path=tmp_path / "w.db",
                           loaded_models={"spindle": load_model(SHIPPED_DIR / "vibration-anomaly")})
        self.guard.start()
        self.bus.subscribe_fast(self.guard.on_sample)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="core-loop", daemon=True)
        self.thread.start()
        self.source = ModbusSource(box.sources.modbus[0], self.bus)
        self.call(self.source.__aenter__())
        self.plc_up = True
        self.sim = MachineSim(seed=3, mean_run_s=1e9)
        self.sim.advance(3.0)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.call(self.source.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.guard.stop()
        if self.plc_up:
            self.plc.__exit__(None, None, None)

    def gate(self) -> dict[str, Any]:
        return self.guard.status()["models"][0]["gate"]

    def running_samples(self, pred: Any, what: str) -> list[Sample]:
        """Samples of ``running`` as the bus delivered them, until one matches ``pred``."""
        got: list[Sample] = []

        def match() -> bool:
            got.extend(s for s in self.seen.drain(0.05) if s.signal == "running")
            return any(pred(s) for s in got)

        wait_for(match, timeout=15, what=what)
        return got

    def feed(self, steps: int) -> None:
        """Vibration blocks and motor current of a machine at work, straight into the guard."""
        for _ in range(steps):
            self.sim.advance(100 / self.sim.vib_rate_hz)
            seq, data = self.sim.vibration_block(100)
            block = np.asarray(data, dtype=np.float32)
            now = time.monotonic_ns()
            self.guard.on_sample(Sample("vibration", float(np.sqrt(np.mean(block ** 2))), block=block, seq=seq,
                                        mono_ns=now))
            self.guard.on_sample(Sample("motor_current", self.sim.values()["motor_current"], mono_ns=now))


@pytest.fixture
def core(tmp_path: Path, sink: Any) -> Iterator[Core]:
    c = Core(tmp_path, sink)
    yield c
    c.close()


def gate_alerts(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in got if a["dedupe_key"].startswith("guard.gate.")]


def test_a_gate_signal_without_a_good_value_is_one_alert_a_stopped_machine_is_none(core: Core, sink: Any) -> None:
    got: list[dict[str, Any]] = []

    # The weekend: the running bit is good and false for longer than the limit. Not a fault.
    core.plc.set("hr", RUNNING, [0])
    first = core.running_samples(lambda s: s.quality is Quality.GOOD, "a good running sample")[0]
    core.running_samples(lambda s: s.quality is Quality.GOOD and s.mono_ns - first.mono_ns > 2 * LIMIT_S * 1e9,
                         "good, false samples for twice the limit")
    got += sink.drain()
    assert gate_alerts(got) == []
    assert core.gate()["lost"] is False and core.gate()["open"] is False
    assert core.guard.status()["state"] == "ok"

    # A fault code in the running register: bad quality. One warning naming the model and the signal.
    core.plc.set("hr", RUNNING, [7])
    core.running_samples(lambda s: s.quality is Quality.BAD, "a bad running sample")
    wait_for(lambda: got.extend(sink.drain()) or gate_alerts(got), timeout=15, what="the gate alert")
    (lost,) = gate_alerts(got)
    assert lost["severity"] == "warning" and lost["kind"] == "guard.model"
    assert lost["title"]["en"] == "Model vibration-anomaly for spindle cannot watch: signal running has no good value"
    assert "vibration-anomaly" in lost["title"]["nl"] and "running" in lost["title"]["nl"]
    assert "running" in lost["detail"]["en"] and "running" in lost["detail"]["nl"]
    status = core.guard.status()
    assert status["state"] == "degraded" and status["models"][0]["gate"]["lost"] is True
    assert status["models"][0]["gate"]["no_good_value_s"] >= LIMIT_S

    # Raised once: still bad for another twice the limit, no second alert.
    bad_from = status["models"][0]["gate"]["no_good_value_s"]
    wait_for(lambda: core.gate()["no_good_value_s"] >= bad_from + 2 * LIMIT_S, timeout=15,
             what="bad for two more limits")
    got += sink.drain()
    assert len(gate_alerts(got)) == 1

    # The running bit is back (running): one info alert, and the model scores again.
    core.plc.set("hr", RUNNING, [1])
    wait_for(lambda: got.extend(sink.drain()) or len(gate_alerts(got)) == 2, timeout=15, what="the back alert")
    back = gate_alerts(got)[1]
    assert back["severity"] == "info" and back["dedupe_key"] == "guard.gate.spindle.back"
    assert back["title"]["en"] == "Model vibration-anomaly for spindle can watch again: signal running is back"
    assert core.gate() == {"signal": "running", "open": True, "settle_s": 0.0, "lost": False, "no_good_value_s": None}
    assert core.guard.status()["state"] == "ok"
    before = core.guard.status()["models"][0]["windows"]
    wait_for(lambda: core.feed(10) or core.guard.status()["models"][0]["windows"] > before, timeout=15,
             what="the model scores again")

    # The PLC goes away: the source marks the signal bad, and that is the alert again.
    core.plc.__exit__(None, None, None)
    core.plc_up = False
    wait_for(lambda: got.extend(sink.drain()) or len(gate_alerts(got)) == 3, timeout=20,
             what="the gate alert with the source down")
    assert gate_alerts(got)[2]["dedupe_key"] == "guard.gate.spindle"


def test_a_gate_signal_that_never_arrives_is_an_alert_but_not_while_the_guard_is_off(tmp_path: Path,
                                                                                     sink: Any) -> None:
    cfg = {"mode": "off", "models": [{"name": "spindle", "model": "vibration-anomaly",
                                      "inputs": ["vibration", "motor_current"], "while_signal": "running",
                                      "while_signal_timeout_s": LIMIT_S}]}
    g = Guard(GuardConfig.model_validate(cfg), alert_sink=sink, db_path=tmp_path / "w.db",
              loaded_models={"spindle": load_model(SHIPPED_DIR / "vibration-anomaly")})
    g.start()
    try:
        # Off: the guard's thread has run for longer than the limit; nothing is watched, nothing alerted.
        start = g.progress_count
        ticks = int(2 * LIMIT_S * 1000 / g.cfg.tick_ms)
        wait_for(lambda: g.progress_count > start + ticks, timeout=15, what="guard ticks for twice the limit")
        assert gate_alerts(sink.drain()) == [] and g.status()["models"][0]["gate"]["lost"] is False
        g.set_mode("shadow", role="maintenance")
        got: list[dict[str, Any]] = []
        wait_for(lambda: got.extend(sink.drain()) or gate_alerts(got), timeout=15, what="the gate alert")
        assert [a["severity"] for a in gate_alerts(got)] == ["warning"]
    finally:
        g.stop()


def test_the_box_gates_the_vibration_model_on_machine_running_signal_by_default(tmp_path: Path, sink: Any) -> None:
    """As the core builds it (appliance.parts): the shipped manifest says scores_only_while_running,
    the config names machine.running_signal and the binding no while_signal: gated on it. An explicit
    while_signal (here "" = score always) wins."""
    from appliance.parts import _build_guard

    def box(**binding: Any) -> BoxConfig:
        return BoxConfig.model_validate({
            "box": {"data_dir": str(tmp_path / "data")}, "machine": {"running_signal": "running"},
            "sources": {"modbus": [{"name": "press", "signals": [
                {"name": "vibration", "address": 0}, {"name": "motor_current", "address": 1},
                {"name": "running", "address": 2}]}]},
            "guard": {"models": [{"name": "spindle", "model": "vibration-anomaly",
                                  "inputs": ["vibration", "motor_current"], **binding}]}})

    assert _build_guard(box(), sink, None).status()["models"][0]["gate"]["signal"] == "running"
    assert _build_guard(box(while_signal=""), sink, None).status()["models"][0]["gate"] is None
