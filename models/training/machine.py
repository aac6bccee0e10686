"""A CNC/press cell, simulated well enough to test drivers, models and KPIs.

Everything is a function of simulated time and a seed, so a scripted timeline
gives the same values on every run. The Modbus and OPC UA servers
(``drivers.modbus.simserver``, ``drivers.opcua.simserver``) only expose what
``MachineSim`` computes.

Physics, roughly:
- running: spindle ramps to the product's speed, motor current follows load,
  temperature rises with a first-order lag, a part completes every cycle;
- vibration: sampled at ``vib_rate_hz`` (2 kHz default): 1x shaft harmonic,
  2x harmonic, broadband noise; faults change that signature;
- energy meter: integrates power (base load + motor).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class MachineState(IntEnum):
    IDLE = 0
    RUNNING = 1
    DOWN = 2
    SETUP = 3


FAULTS = ("bearing_wear", "imbalance", "overload", "jam", "sensor_dropout", "plc_disconnect")


@dataclass
class Product:
    id: int
    name: str
    cycle_s: float  # actual cycle time when healthy
    ideal_cycle_s: float  # what the planner assumes
    speed_rpm: float


DEFAULT_PRODUCTS = (
    Product(1, "flens-a", cycle_s=12.0, ideal_cycle_s=10.0, speed_rpm=3000.0),
    Product(2, "as-b", cycle_s=20.0, ideal_cycle_s=18.0, speed_rpm=2400.0),
)


@dataclass
class TimelineStep:
    at_s: float
    state: MachineState | None = None
    fault: str | None = None  # name, or "clear"
    product: int | None = None
    scrap_next: int = 0  # the next N parts are scrap


@dataclass
class MachineSim:
    seed: int = 0
    vib_rate_hz: float = 2000.0
    vib_history: int = 8192
    timeline: list[TimelineStep] | None = None
    products: tuple[Product, ...] = DEFAULT_PRODUCTS
    scrap_rate: float = 0.03
    # Free-running demo: mean seconds in each state before a random change.
    mean_run_s: float = 600.0
    mean_stop_s: float = 90.0

    t_s: float = 0.0
    state: MachineState = MachineState.RUNNING
    faults: dict[str, float] = field(default_factory=dict)  # name -> severity 0..1
    product_id: int = 1
    spindle_speed: float = 0.0
    motor_current: float = 2.0
    temperature: float = 22.0
    power_kw: float = 0.8
    energy_kwh: float = 1000.0
    part_count: int = 0
    good_count: int = 0
    scrap_count: int = 0
    door_open: bool = False
    _cycle_progress: float = 0.0
    _scrap_next: int = 0
    _vib_index: int = 0
    _vib: deque[float] = field(default_factory=deque)
    _rng: np.random.Generator = field(init=False)
    _next_change_s: float = field(init=False)
    _timeline_pos: int = 0
    _phase: float = 0.0
    stop_active: bool = False  # the box's stop output, as written by the guard
    heartbeat: int = 0  # last heartbeat value written by the box
    part_events: int = 0  # parts completed since last read by the GPIO driver

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._vib = deque(maxlen=self.vib_history)
        self._next_change_s = self._draw_duration()
        if self.timeline is not None:
            self.timeline = sorted(self.timeline, key=lambda s: s.at_s)
            self.state = MachineState.IDLE
            self._apply_timeline()

    # ----- control -----------------------------------------------------
    def inject(self, fault: str, severity: float = 1.0) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
        if not 0 < severity <= 1:
            raise ValueError("severity must be in (0, 1]")
        self.faults[fault] = severity

    def clear(self, fault: str | None = None) -> None:
        if fault is None:
            self.faults.clear()
        else:
            self.faults.pop(fault, None)

    def set_state(self, state: MachineState | str, *, hold_s: float | None = None) -> None:
        """Go to ``state``; the random run/stop changes resume after ``hold_s`` (default:
        a drawn duration, which can be a fraction of a second)."""
        self.state = MachineState[state.upper()] if isinstance(state, str) else MachineState(state)
        if hold_s is not None and hold_s < 0:
            raise ValueError("hold_s must be 0 or more")
        self._next_change_s = self.t_s + (self._draw_duration() if hold_s is None else hold_s)

    def apply_stop(self, active: bool) -> None:
        """The box's stop output (coil/node) as the PLC sees it: set = stop now."""
        if active and not self.stop_active:
            self.state = MachineState.DOWN
        elif not active and self.stop_active and self.timeline is None:
            self.state = MachineState.RUNNING
            self._next_change_s = self.t_s + self._draw_duration()
        self.stop_active = active

    @property
    def product(self) -> Product:
        for p in self.products:
            if p.id == self.product_id:
                return p
        return self.products[0]

    @property
    def plc_connected(self) -> bool:
        return "plc_disconnect" not in self.faults

    @property
    def running(self) -> bool:
        return self.state is MachineState.RUNNING

    # ----- simulation --------------------------------------------------
    def _draw_duration(self) -> float:
        mean = self.mean_run_s if self.state is MachineState.RUNNING else self.mean_stop_s
        return float(self._rng.exponential(mean))

    def _apply_timeline(self) -> None:
        assert self.timeline is not None
        while self._timeline_pos < len(self.timeline) and self.timeline[self._timeline_pos].at_s <= self.t_s:
            step = self.timeline[self._timeline_pos]
            if step.state is not None:
                self.state = step.state
            if step.product is not None:
                self.product_id = step.product
            if step.fault == "clear":
                self.clear()
            elif step.fault:
                self.inject(step.fault)
            self._scrap_next += step.scrap_next
            self._timeline_pos += 1

    def advance(self, dt_s: float) -> None:
        """Advance simulated time by ``dt_s`` (split into steps of <= 50 ms)."""
        while dt_s > 1e-12:
            step = min(dt_s, 0.05)
            self._step(step)
            dt_s -= step

    def advance_to(self, t_s: float) -> None:
        if t_s > self.t_s:
            self.advance(t_s - self.t_s)

    def _step(self, dt: float) -> None:
        t_end = self.t_s + dt
        if self.timeline is not None:
            # Timeline changes land exactly on their time.
            nxt = self.timeline[self._timeline_pos].at_s if self._timeline_pos < len(self.timeline) else None
            if nxt is not None and nxt < t_end:
                if nxt > self.t_s:
                    self._integrate(nxt - self.t_s)
                self.t_s = max(self.t_s, nxt)
                self._apply_timeline()
                rest = t_end - self.t_s
                if rest > 1e-12:
                    self._integrate(rest)
                    self.t_s = t_end
                return
        elif self.t_s >= self._next_change_s and not self.stop_active:
            if self.state is MachineState.RUNNING:
                self.state = MachineState.IDLE if self._rng.random() < 0.6 else MachineState.DOWN
            else:
                self.state = MachineState.RUNNING
            self._next_change_s = self.t_s + self._draw_duration()
        self._integrate(dt)
        self.t_s = t_end

    def _integrate(self, dt: float) -> None:
        p = self.product
        jam = "jam" in self.faults
        overload = self.faults.get("overload", 0.0)
        target_speed = p.speed_rpm if self.running and not jam else 0.0
        # First-order spindle ramp, time constant 0.5 s.
        self.spindle_speed += (target_speed - self.spindle_speed) * min(1.0, dt / 0.5)
        load = self.spindle_speed / 3000.0
        target_current = 2.0 + 10.0 * load * (1 + 0.6 * overload)
        if jam and self.running:
            target_current = 25.0  # stalled motor draws locked-rotor current
        self.motor_current += (target_current - self.motor_current) * min(1.0, dt / 0.2)
        target_temp = 22.0 + 18.0 * load * (1 + 0.8 * overload)
        self.temperature += (target_temp - self.temperature) * min(1.0, dt / 120.0)
        self.power_kw = 0.8 + 0.4 * self.motor_current
        self.energy_kwh += self.power_kw * dt / 3600.0
        if self.running and not jam:
            self._cycle_progress += dt / p.cycle_s
            while self._cycle_progress >= 1.0:
                self._cycle_progress -= 1.0
                self._complete_part()
        self._vibrate(dt)

    def _complete_part(self) -> None:
        self.part_count = (self.part_count + 1) & 0xFFFFFFFF
        if self._scrap_next > 0:
            scrap = True
            self._scrap_next -= 1
        elif self.timeline is not None:
            scrap = False
        else:
            scrap = bool(self._rng.random() < self.scrap_rate)
        if scrap:
            self.scrap_count += 1
        else:
            self.good_count += 1
        self.part_events += 1

    def _vibrate(self, dt: float) -> None:
        start = self._vib_index
        end = int(round((self.t_s + dt) * self.vib_rate_hz))
        n = end - start
        if n <= 0:
            return
        if "sensor_dropout" in self.faults:
            self._vib.extend([0.0] * n)
            self._vib_index = end
            return
        shaft_hz = self.spindle_speed / 60.0
        t = np.arange(n) / self.vib_rate_hz
        phase = self._phase + 2 * math.pi * shaft_hz * t
        amp = 0.05 + 0.3 * (self.spindle_speed / 3000.0)
        imb = self.faults.get("imbalance", 0.0)
        sig = amp * (1 + 3.0 * imb) * np.sin(phase) + 0.3 * amp * np.sin(2 * phase + 0.4)
        bw = self.faults.get("bearing_wear", 0.0)
        if bw and shaft_hz > 0:
            # Outer-race defect: impacts at ~3.6x shaft speed ringing at 700 Hz.
            bpfo = 3.57 * shaft_hz
            impact_phase = (self._phase / (2 * math.pi) * 3.57 + bpfo * t) % 1.0
            ring = np.exp(-impact_phase * 40.0) * np.sin(2 * math.pi * 700.0 * impact_phase / bpfo)
            sig += 1.5 * bw * amp * ring
        if "jam" in self.faults and self.running:
            sig += 0.4 * np.sin(2 * math.pi * 50.0 * t)  # motor hum under stall
        sig += self._rng.normal(0.0, 0.02 + 0.02 * amp, n)
        self._phase = float((self._phase + 2 * math.pi * shaft_hz * n / self.vib_rate_hz) % (2 * math.pi))
        self._vib.extend(sig.astype(np.float32).tolist())
        self._vib_index = end

    # ----- readout -----------------------------------------------------
    def vibration_block(self, n: int) -> tuple[int, list[float]]:
        """The last ``n`` vibration samples (m/s^2) and the sequence number of the first."""
        n = min(n, len(self._vib))
        data = list(self._vib)[-n:] if n else []
        return self._vib_index - n, data

    @property
    def vibration_seq(self) -> int:
        """Sequence number of the next vibration sample to be produced."""
        return self._vib_index

    def values(self) -> dict[str, float | int | bool]:
        temp = float("nan") if "sensor_dropout" in self.faults else round(self.temperature, 2)
        return {
            "running": self.running,
            "machine_state": int(self.state),
            "spindle_speed": round(self.spindle_speed, 1),
            "motor_current": round(self.motor_current, 3),
            "temperature": temp,
            "part_count": self.part_count,
            "good_count": self.good_count,
            "scrap_count": self.scrap_count,
            "energy_kwh": round(self.energy_kwh, 4),
            "power_kw": round(self.power_kw, 3),
            "product_id": self.product_id,
            "door_open": self.door_open,
        }
