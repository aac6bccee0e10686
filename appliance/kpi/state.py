"""Machine state from signals, counter deltas, and the clock-jump watch.

The state is one of ``running``, ``idle``, ``down``, ``planned_down``,
``setup`` or ``no_data``. Which signals decide "running" is configuration
(``machine.running_rule``):

- ``running_signal``: a bit that is true while the machine runs;
- ``speed``: ``speed_signal`` above ``speed_threshold``;
- ``counter``: the part counter moved within ``counter_active_s``;
- ``state_signal``: a PLC state code mapped by ``state_codes``;
- ``all`` / ``any``: combine the configured running bit, speed and counter;
- ``auto``: the state code if configured, else the running bit, else speed,
  else the counter.

A value is trusted for ``no_data_after_s`` after it was received. If any
deciding signal has no value that fresh, or its last value is BAD/STALE, the
state is ``no_data`` — never running or down. When not running, the state
code (if configured) tells idle / down / planned_down / setup, otherwise the
stop counts as ``stopped_state`` (down by default) until a reason says
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.samples import Quality, Sample

from .config import MachineConfig

NS = 1_000_000_000
STOPPED = ("idle", "down", "planned_down", "setup")
STATES = ("running", *STOPPED, "no_data")


@dataclass(slots=True)
class _Last:
    value: object
    good: bool
    mono_ns: int


class StateModel:
    """Decides the state at a monotonic time from the latest samples."""

    def __init__(self, machine: MachineConfig) -> None:
        self.m = machine
        rule: str = machine.running_rule
        if rule == "auto":
            rule = ("state_signal" if machine.state_signal else "running_signal" if machine.running_signal
                    else "speed" if machine.speed_signal else "counter" if machine.counter_signal else "none")
        self.rule = rule
        parts = {"running_signal": machine.running_signal, "speed": machine.speed_signal,
                 "counter": machine.counter_signal, "state_signal": machine.state_signal}
        if rule in ("all", "any"):
            self.parts = [p for p in ("running_signal", "speed", "counter") if parts[p]]
        elif rule == "none":
            self.parts = []
        else:
            if not parts[rule]:
                raise ValueError(f"machine.running_rule {rule!r} needs its signal configured")
            self.parts = [rule]
        self.deciding: set[str] = {v for p in self.parts if (v := parts[p])}
        if machine.state_signal:
            self.deciding.add(machine.state_signal)
        self.no_data_ns = int(machine.no_data_after_s * NS)
        self.counter_ns = int(machine.counter_active_s * NS)
        self.latest: dict[str, _Last] = {}
        self.counter_moved_ns: int | None = None

    def update(self, sample: Sample, *, counter_delta: float = 0.0) -> None:
        if sample.signal in self.deciding:
            self.latest[sample.signal] = _Last(sample.value, sample.quality is Quality.GOOD, sample.mono_ns)
        if sample.signal == self.m.counter_signal and counter_delta > 0:
            self.counter_moved_ns = sample.mono_ns

    def _fresh(self, name: str, t: int) -> bool:
        last = self.latest.get(name)
        return last is not None and last.good and t - last.mono_ns < self.no_data_ns

    def _part(self, part: str, t: int) -> bool:
        m = self.m
        if part == "running_signal":
            return bool(self.latest[m.running_signal].value)  # type: ignore[index]
        if part == "speed":
            try:
                return float(self.latest[m.speed_signal].value) > m.speed_threshold  # type: ignore[index, arg-type]
            except (TypeError, ValueError):
                return False
        if part == "counter":
            return self.counter_moved_ns is not None and t - self.counter_moved_ns < self.counter_ns
        return self._code(t) == "running"

    def _code(self, t: int) -> str | None:
        last = self.latest.get(self.m.state_signal or "")
        if last is None:
            return None
        v = last.value
        key = str(int(v)) if isinstance(v, bool | int | float) and float(v).is_integer() else str(v)
        return self.m.state_codes.get(key)

    def state_at(self, t: int) -> str:
        if not self.deciding or not all(self._fresh(s, t) for s in self.deciding):
            return "no_data"
        if self.parts:
            results = [self._part(p, t) for p in self.parts]
            running = all(results) if self.rule == "all" else any(results)
        else:
            running = False
        if running:
            return "running"
        code = self._code(t) if self.m.state_signal else None
        return code if code in STOPPED else self.m.stopped_state

    def next_change_after(self, t: int) -> int | None:
        """Earliest time > t at which the state may change without a new sample."""
        times = [last.mono_ns + self.no_data_ns for last in self.latest.values() if last.good]
        if "counter" in self.parts and self.counter_moved_ns is not None:
            times.append(self.counter_moved_ns + self.counter_ns)
        later = [x for x in times if x > t]
        return min(later) if later else None


class CounterTracker:
    """Deltas of a monotonically increasing counter that may wrap or reset.

    A drop from the top quarter of the range to the bottom quarter is a wrap
    (uint32 part counter, energy meter roll-over); any other drop is a reset
    (PLC restart, meter exchange): the new value counts as produced since the
    reset.
    """

    def __init__(self, name: str, wrap: float | None) -> None:
        self.name = name
        self.wrap = wrap
        self.last: float | None = None

    def update(self, value: float) -> tuple[float, str | None]:
        prev, self.last = self.last, value
        if prev is None:
            return 0.0, None
        if value >= prev:
            return value - prev, None
        if self.wrap and prev >= 0.75 * self.wrap and value < 0.25 * self.wrap:
            return value + self.wrap - prev, "wrap"
        return max(0.0, value), "reset"
