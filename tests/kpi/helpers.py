"""Test helpers: a box config with the simulator's signals, and a feeder that
turns MachineSim values (or scripted values) into Samples with synthetic
monotonic/UTC timestamps and feeds them to a real KpiEngine on a real SQLite file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from appliance.config import BoxConfig, parse_config
from appliance.kpi.calendar import NS
from appliance.kpi.engine import KpiEngine
from drivers.samples import Quality, Sample
from models.training.machine import MachineSim

SIM_SIGNALS = [
    ("running", "coil", "bool", 0),
    ("machine_state", "holding", "uint16", 0),
    ("spindle_speed", "holding", "float32", 2),
    ("part_count", "holding", "uint32", 4),
    ("good_count", "holding", "uint32", 6),
    ("scrap_count", "holding", "uint32", 8),
    ("energy_kwh", "holding", "float32", 10),
    ("product_id", "holding", "uint16", 12),
]
SIM_CODES = {"0": "idle", "1": "running", "2": "down", "3": "setup"}
PRODUCTS = [{"id": "flens_a", "name": "Flens A", "ideal_cycle_s": 10.0, "code": 1},
            {"id": "as_b", "name": "As B", "ideal_cycle_s": 18.0, "code": 2}]


def box_config(tmp_path: Path, **machine: Any) -> BoxConfig:
    signals = []
    for name, table, typ, addr in SIM_SIGNALS:
        s: dict[str, Any] = {"name": name, "table": table, "type": typ, "address": addr}
        signals.append(s)
    data = {"box": {"data_dir": str(tmp_path)},
            "sources": {"modbus": [{"name": "plc", "host": "127.0.0.1", "port": 5020, "signals": signals}]},
            "machine": machine}
    return parse_config(data)


def utc_ns(text: str) -> int:
    """'2026-06-01T06:00' (UTC) -> ns."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()) * NS


class Feeder:
    """Advances a MachineSim in steps and feeds its values as Samples.

    mono starts at an arbitrary value (like a Pi's uptime); utc = mono + offset,
    and ``jump`` changes the offset (the wall clock jumps, monotonic does not).
    """

    def __init__(self, engine: KpiEngine, sim: MachineSim | None, *, utc0: int, step_s: float = 1.0,
                 mono0: int = 5_000 * NS) -> None:
        self.engine = engine
        self.sim = sim
        self.step_ns = int(step_s * NS)
        self.mono = mono0
        self.offset = utc0 - mono0
        self.t0 = mono0
        self.signals = sorted({name for _, name in engine.m.referenced_signals()})
        self.quality: dict[str, Quality] = {}
        self.values: dict[str, Any] = {}  # scripted values when no sim

    @property
    def t_s(self) -> float:
        return (self.mono - self.t0) / NS

    @property
    def utc(self) -> int:
        return self.mono + self.offset

    def jump(self, delta_s: float) -> None:
        self.offset += int(delta_s * NS)

    def emit(self) -> None:
        vals = self.sim.values() if self.sim is not None else self.values
        samples = [Sample(name, vals[name], self.quality.get(name, Quality.GOOD), self.mono, self.utc)
                   for name in self.signals if name in vals]
        self.engine.process(samples)

    def run_until(self, t_s: float, *, silent: bool = False) -> None:
        """Advance to ``t_s`` seconds after start; a sample per step unless ``silent`` (a data gap)."""
        end = self.t0 + int(round(t_s * NS))
        while self.mono < end:
            step = min(self.step_ns, end - self.mono)
            if self.sim is not None:
                self.sim.advance(step / NS)
            self.mono += step
            if silent:
                self.engine.tick(self.mono, self.utc)
            else:
                self.emit()
        self.engine.tick(self.mono, self.utc)


def fast_sim(timeline: list[Any]) -> MachineSim:
    # The vibration model is not needed for KPIs; 1 Hz keeps the simulator cheap.
    return MachineSim(timeline=timeline, vib_rate_hz=1.0, vib_history=4)
