"""Samples in, segments, counts and stops out: the KPI engine's bookkeeping, pure.

No clock, no database, no thread: the engine hands it samples with the
monotonic time to account them at, and takes what is pending when it writes.

- a **segment** is contiguous time in one raw state (and at most one stop),
  in monotonic ns;
- a **stop** is contiguous not-running time; it is open (``stop``) until the
  machine runs again, then closed;
- **counts** are counter deltas (parts, good, scrap, energy) at a monotonic
  time, with the ideal cycle time of the current product. Parts that show up
  on the first sample after no-data were made while unobserved: they count in
  PQ/GQ but not in performance (their time is not in APT either).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.samples import Sample

from .config import MachineConfig
from .state import STOPPED, CounterTracker, StateModel


@dataclass
class PendingStop:
    start_mono: int
    state: str
    id: int | None = None
    end_mono: int | None = None
    reason: str | None = None


@dataclass
class Segment:
    state: str
    m0: int
    m1: int
    stop: PendingStop | None


Counts = list[tuple[int, dict[str, float]]]


class Accumulator:
    def __init__(self, machine: MachineConfig) -> None:
        self.m = m = machine
        self.model = StateModel(m)
        self.trackers: dict[str, CounterTracker] = {}
        for name in (m.counter_signal, m.good_signal, m.scrap_signal):
            if name:
                self.trackers[name] = CounterTracker(name, float(m.counter_wrap))
        if m.energy_signal:
            self.trackers[m.energy_signal] = CounterTracker(m.energy_signal, m.energy_wrap_kwh)
        self._products_by_code = {p.code: p for p in m.products if p.code is not None}
        self._products_by_id = {p.id: p for p in m.products}
        self.product_code: Any = None
        self.operator_product: str | None = None
        self.t: int | None = None
        self.state = "no_data"
        self.since = 0
        self._left_no_data_at: int | None = None
        self.stop: PendingStop | None = None
        self.segs: list[Segment] = []
        self.counts: Counts = []
        self.closed: list[PendingStop] = []

    # ------------------------------------------------------------- input
    def begin(self, t: int) -> None:
        """The first time seen (a sample or a tick): no data until a sample says otherwise."""
        self.t = self.since = t
        self.state = "no_data"

    def no_data_before(self, t: int, gap_ns: int) -> None:
        """The box was off or the engine was not running for ``gap_ns`` before ``t``: show it as no-data."""
        self.segs.append(Segment("no_data", t - gap_ns, t, None))

    def advance(self, t: int) -> None:
        """Account the time up to ``t`` (after ``begin``), including the state changes the model foresees."""
        assert self.t is not None
        while True:
            nxt = self.model.next_change_after(self.t)
            if nxt is None or nxt > t:
                break
            self._account(self.t, nxt)
            self.t = nxt
            self._set_state(self.model.state_at(nxt), nxt)
        if t > self.t:
            self._account(self.t, t)
            self.t = t

    def sample(self, s: Sample, t: int, on_reset: Callable[[str, float], None] | None = None) -> None:
        """One sample, accounted at monotonic ``t`` (already advanced to). ``on_reset`` hears of a counter reset."""
        delta = 0.0
        catch_up = self.state == "no_data" or self._left_no_data_at == t
        if s.good and s.signal in self.trackers and s.value is not None and not isinstance(s.value, str):
            try:
                value = float(s.value)
            except (TypeError, ValueError):
                value = None  # type: ignore[assignment]
            if value is not None and value == value:
                delta, event = self.trackers[s.signal].update(value)
                if event == "reset" and on_reset is not None:
                    on_reset(s.signal, value)
                if delta:
                    self._count(s.signal, delta, t, catch_up=catch_up)
        if s.signal == self.m.product_signal and s.good:
            self.product_code = s.value
        self.model.update(s, counter_delta=delta)
        self._set_state(self.model.state_at(t), t)

    # ------------------------------------------------------------- output
    def take(self) -> tuple[list[Segment], Counts, list[PendingStop]]:
        """What is pending (segments, counts, closed stops); the accumulator starts afresh."""
        out = self.segs, self.counts, self.closed
        self.segs, self.counts, self.closed = [], [], []
        return out

    def put_back(self, segs: list[Segment], counts: Counts, closed: list[PendingStop]) -> None:
        """A write failed: ``take``'s result goes back in front of what came since."""
        self.segs, self.counts, self.closed = segs + self.segs, counts + self.counts, closed + self.closed

    # ------------------------------------------------------------- inside
    def _ideal_cycle_s(self) -> float:
        p = None
        if self.m.product_signal and self.product_code is not None:
            try:
                p = self._products_by_code.get(int(self.product_code))
            except (TypeError, ValueError):
                p = None
        if p is None and self.operator_product:
            p = self._products_by_id.get(self.operator_product)
        return p.ideal_cycle_s if p else self.m.ideal_cycle_s

    def _count(self, signal: str, d: float, t: int, *, catch_up: bool = False) -> None:
        m = self.m
        out: dict[str, float] = defaultdict(float)
        pri = 0.0 if catch_up else self._ideal_cycle_s()
        if signal == m.counter_signal:
            out["pq"] += d
            out["ideal_s"] += d * pri
            if not m.good_signal:
                out["gq"] += d
        elif signal == m.good_signal:
            out["gq"] += d
            if not m.counter_signal:
                out["pq"] += d
                out["ideal_s"] += d * pri
        elif signal == m.scrap_signal:
            out["sq"] += d
            if not m.good_signal:
                out["gq"] -= d
            if not m.counter_signal:
                out["pq"] += d
                out["ideal_s"] += d * pri
        elif signal == m.energy_signal:
            out["energy_kwh"] += d
        self.counts.append((t, out))

    def _account(self, m0: int, m1: int) -> None:
        if m1 <= m0:
            return
        last = self.segs[-1] if self.segs else None
        if last and last.state == self.state and last.stop is self.stop and last.m1 == m0:
            last.m1 = m1
        else:
            self.segs.append(Segment(self.state, m0, m1, self.stop))

    def _set_state(self, new: str, t: int) -> None:
        old = self.state
        if new == old:
            return
        if old == "no_data":
            self._left_no_data_at = t
        if old in STOPPED and new not in STOPPED and self.stop is not None:
            self.stop.end_mono = t
            self.closed.append(self.stop)
            self.stop = None
        if new in STOPPED and old not in STOPPED:
            self.stop = PendingStop(t, new)
        self.state = new
        self.since = t
