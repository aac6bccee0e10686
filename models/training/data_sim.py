"""Vibration + motor-current windows from the machine simulator (training data).

The windows are cut exactly as the guard cuts them on the box: a block of
``window`` vibration samples (2 kHz) every ``hop`` samples, plus the motor
current polled every ``poll_s`` during the same span. Everything is a function
of the seed, so a recipe run gives the same data every time.

Used by ``train_vibration`` and by the tests (which need faulted and normal
windows without TensorFlow).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from models.training.machine import MachineSim, MachineState

VIB_PARAMS = {"window": 1024, "sample_rate_hz": 2000.0, "n_bands": 16, "f_low_hz": 10.0, "f_high_hz": 1000.0}
HOP = 512  # 0.256 s at 2 kHz: 50 % overlap
POLLS_PER_HOP = 4  # motor current polled every 64 ms (a typical Modbus poll)
SIGNALS = ("vibration", "motor_current")
EVAL_FAULTS = ("bearing_wear", "imbalance", "overload", "jam")


@dataclass(frozen=True)
class SimWindow:
    vibration: np.ndarray  # float32, window samples
    motor_current: np.ndarray  # float32, the polls in the window span
    t_s: float
    state: int
    product_id: int
    fault: str | None

    def as_window(self) -> dict[str, np.ndarray]:
        return {"vibration": self.vibration, "motor_current": self.motor_current}


def simulate(*, seed: int, duration_s: float, window: int = 1024, hop: int = HOP,
             mean_run_s: float = 600.0, mean_stop_s: float = 90.0,
             fault: str | None = None, fault_at_s: float = 0.0, severity: float = 1.0,
             product_id: int | None = None, switch_products: bool = True,
             keep_running: bool = False) -> Iterator[SimWindow]:
    """Windows of one simulated run.

    ``fault`` is injected at ``fault_at_s``; ``keep_running`` holds the
    machine in RUNNING (for fault evaluation); ``switch_products`` picks a
    random product at every start, as a job shop would.
    """
    rng = np.random.default_rng(seed + 7_000_003)
    sim = MachineSim(seed=seed, mean_run_s=1e12 if keep_running else mean_run_s, mean_stop_s=mean_stop_s)
    sim.product_id = product_id if product_id is not None else int(rng.integers(1, 3))
    rate = sim.vib_rate_hz
    poll_s = hop / rate / POLLS_PER_HOP
    polls_per_window = max(1, int(round(window / rate / poll_s)))
    currents: deque[float] = deque(maxlen=polls_per_window)
    # Fill the vibration history first so the first window is complete.
    sim.advance(window / rate)
    currents.append(float(sim.values()["motor_current"]))
    injected = False
    was_running = sim.running
    n_hops = int(duration_s * rate / hop)
    for _ in range(n_hops):
        for _ in range(POLLS_PER_HOP):
            sim.advance(poll_s)
            if fault and not injected and sim.t_s >= fault_at_s:
                sim.inject(fault, severity)
                injected = True
            if switch_products and product_id is None and sim.running and not was_running:
                sim.product_id = int(rng.integers(1, 3))
            was_running = sim.running
            currents.append(float(sim.values()["motor_current"]))
        _, vib = sim.vibration_block(window)
        yield SimWindow(
            vibration=np.asarray(vib, dtype=np.float32),
            motor_current=np.asarray(currents, dtype=np.float32),
            t_s=sim.t_s, state=int(sim.state), product_id=sim.product_id,
            fault=fault if injected else None)


def normal_windows(*, seeds: range | list[int], duration_s: float, mean_run_s: float = 600.0,
                   mean_stop_s: float = 90.0) -> list[SimWindow]:
    out: list[SimWindow] = []
    for s in seeds:
        out.extend(simulate(seed=s, duration_s=duration_s, mean_run_s=mean_run_s, mean_stop_s=mean_stop_s))
    return out


def fault_windows(fault: str, *, seeds: range | list[int], duration_s: float = 30.0, settle_s: float = 1.0,
                  severity: float = 1.0) -> list[SimWindow]:
    """Windows of a running machine with ``fault`` present (from ``settle_s`` after injection)."""
    out: list[SimWindow] = []
    for s in seeds:
        for pid in (1, 2):
            warm = 4.0
            for w in simulate(seed=s, duration_s=warm + settle_s + duration_s, fault=fault, fault_at_s=warm,
                              severity=severity, product_id=pid, keep_running=True):
                if w.fault and w.t_s >= warm + settle_s and w.state == MachineState.RUNNING:
                    out.append(w)
    return out
