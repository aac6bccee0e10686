"""The guard's decisions, free of threads and clocks so they test with controlled time.

- :class:`Debounce`: model scores -> trip with N-of-M debounce and hysteresis.
- :class:`LimitRule` ("signal above/below limit for T ms") and
  :class:`StallRule` ("counter stalled for T s while running").
- :class:`RunGate`: whether a model may score a window (steady running only).

Every method takes the time (monotonic ns) as an argument; the engine passes
``Sample.mono_ns`` on a sample and ``time.monotonic_ns()`` on a tick. Each
object is touched from two threads (the driver's thread on a sample, the guard
thread on a tick), so each has a small lock held for a few comparisons only.
"""

from __future__ import annotations

import collections
import math
import threading

from .config import Rule


class Debounce:
    """N-of-M debounce with hysteresis on a score where higher = worse.

    A window is a *hit* when its score reaches ``threshold``; once the alarm
    is on, a hit needs only ``threshold * (1 - hysteresis)``, so a score
    hovering around the threshold does not switch the alarm on and off on
    every hop. The alarm goes on when N of the last M windows are hits
    (:meth:`update` returns True on that rising edge only) and off when fewer
    than N of the last M are. NaN scores (bad input) are skipped, not hits.
    """

    def __init__(self, *, threshold: float, n: int, m: int, hysteresis: float) -> None:
        if not 1 <= n <= m:
            raise ValueError(f"N-of-M needs 1 <= N <= M, got N={n}, M={m}")
        self.threshold = float(threshold)
        self.release_level = float(threshold) * (1.0 - hysteresis)
        self.n = n
        self._hist: collections.deque[bool] = collections.deque(maxlen=m)
        self._hits = 0
        self.alarm = False

    def update(self, score: float) -> bool:
        if math.isnan(score):
            return False
        level = self.release_level if self.alarm else self.threshold
        hit = score >= level
        if len(self._hist) == self._hist.maxlen and self._hist[0]:
            self._hits -= 1
        self._hist.append(hit)
        self._hits += hit
        if not self.alarm and self._hits >= self.n:
            self.alarm = True
            return True
        if self.alarm and self._hits < self.n:
            self.alarm = False
        return False

    @property
    def hits(self) -> int:
        return self._hits

    def reset(self) -> None:
        """Forget the history (after a reset: a persisting fault trips again after N fresh hits)."""
        self._hist.clear()
        self._hits = 0
        self.alarm = False


class _RuleBase:
    """Shared state of a rule: gating by ``while_signal`` and edge-triggering."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.name = rule.name
        self.hold_ns = int(rule.for_ms * 1_000_000)
        self._lock = threading.Lock()
        self.gate = rule.while_signal is None  # no while_signal: always active
        self.active = False  # condition held long enough and reported; cleared when it stops holding
        self.last_value: float | None = None

    def on_gate(self, value: object, mono_ns: int) -> None:
        with self._lock:
            on = _truthy(value)
            if on and not self.gate:
                self._gate_opened(mono_ns)
            self.gate = on
            if not on:
                self.active = False

    def _gate_opened(self, mono_ns: int) -> None:
        pass

    def reset(self, mono_ns: int) -> None:
        """Forget held time (after a reset: a persisting condition trips again after T)."""
        with self._lock:
            self.active = False
            self._restart(mono_ns)

    def _restart(self, mono_ns: int) -> None:
        pass


class LimitRule(_RuleBase):
    """``signal`` above (or below) ``limit`` for at least ``for_ms``."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        assert rule.limit is not None
        self.limit = float(rule.limit)
        self.above = rule.kind == "above"
        self.since_ns: int | None = None  # first sample beyond the limit in the current excursion

    def _beyond(self, value: float) -> bool:
        return value > self.limit if self.above else value < self.limit

    def on_value(self, value: float, mono_ns: int) -> bool:
        """A good sample; True = trip now (rising edge)."""
        with self._lock:
            self.last_value = value
            if not self._beyond(value):
                self.since_ns = None
                self.active = False
                return False
            if self.since_ns is None:
                self.since_ns = mono_ns
            return self._check(mono_ns)

    def check(self, now_ns: int) -> bool:
        """On a tick: True = the condition has now held for ``for_ms`` (values
        that arrive only on change, as OPC UA sends them, still trip in time)."""
        with self._lock:
            return self._check(now_ns)

    def _check(self, now_ns: int) -> bool:
        if self.active or not self.gate or self.since_ns is None:
            return False
        if now_ns - self.since_ns >= self.hold_ns:
            self.active = True
            return True
        return False

    def deadline_ns(self) -> int | None:
        with self._lock:
            if self.active or not self.gate or self.since_ns is None:
                return None
            return self.since_ns + self.hold_ns

    def _gate_opened(self, mono_ns: int) -> None:
        if self.since_ns is not None:
            self.since_ns = max(self.since_ns, mono_ns)

    def _restart(self, mono_ns: int) -> None:
        if self.since_ns is not None:
            self.since_ns = mono_ns


class StallRule(_RuleBase):
    """Counter ``signal`` unchanged for ``for_ms`` while ``while_signal`` is true."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self.changed_ns: int | None = None  # last change of the counter (or gate opening / reset)

    def on_value(self, value: float, mono_ns: int) -> bool:
        with self._lock:
            if self.last_value is None or value != self.last_value:
                self.changed_ns = mono_ns
                self.active = False
            self.last_value = value
            return self._check(mono_ns)

    def check(self, now_ns: int) -> bool:
        with self._lock:
            return self._check(now_ns)

    def _check(self, now_ns: int) -> bool:
        # Never seen the counter: nothing to judge (the source's health shows that).
        if self.active or not self.gate or self.changed_ns is None:
            return False
        if now_ns - self.changed_ns >= self.hold_ns:
            self.active = True
            return True
        return False

    def deadline_ns(self) -> int | None:
        with self._lock:
            if self.active or not self.gate or self.changed_ns is None:
                return None
            return self.changed_ns + self.hold_ns

    def _gate_opened(self, mono_ns: int) -> None:
        # The counter may stand still while the machine does not run: count from the start.
        if self.changed_ns is not None:
            self.changed_ns = max(self.changed_ns, mono_ns)

    def _restart(self, mono_ns: int) -> None:
        if self.changed_ns is not None:
            self.changed_ns = mono_ns


class RunGate:
    """Whether a model may score a window: only while ``signal`` is true (good quality), and not a
    window that begins within ``settle_ns`` of it turning true.

    An anomaly model learns a machine at work. A window of a machine at rest, or of one spinning up
    after a stop, is not what it learnt: the shipped vibration model scores spin-up windows 10 to 86
    (normal about 1, threshold 23), and about 1 start in 20 tripped its 3-of-5 debounce (a false alarm
    after every jam that was cleared and reset, seen in the UI's reset test). No ``signal``: always open.
    One thread writes (the signal's reader), one reads (the inference thread): ``since_ns`` is one
    attribute, read once.
    """

    def __init__(self, signal: str | None, settle_ns: int) -> None:
        self.signal = signal
        self.settle_ns = settle_ns
        self.since_ns: int | None = None if signal else -(2**62)  # running since (monotonic ns)
        self.good = False  # the signal's latest sample had good quality (true or false): see GateWatch

    def on_value(self, value: object, good: bool, mono_ns: int) -> bool:
        """The gate signal's sample; True when it closes (the machine stopped, or its state is unknown)."""
        self.good = good
        if good and _truthy(value):
            if self.since_ns is None:
                self.since_ns = mono_ns
            return False
        closed = self.since_ns is not None
        self.since_ns = None
        return closed

    def admits(self, window_start_ns: int) -> bool:
        since = self.since_ns
        return since is not None and window_start_ns >= since + self.settle_ns

    @property
    def open(self) -> bool:
        return self.since_ns is not None


class GateWatch:
    """Whether a gated model can watch at all: the gate signal had no good value for ``limit_ns``.

    A machine that stands still (the gate signal good and false, a weekend) is not a fault. A gate
    signal that never arrived, whose source is down or whose quality stays bad is: the model then
    never scores, silently. :meth:`check` runs in the guard thread (its own clock); it returns
    ``"lost"`` once when the gate has had no good value for ``limit_ns`` while the guard is on, and
    ``"back"`` once at the first good value after that. Time with the guard off does not count.
    """

    def __init__(self, limit_ns: int) -> None:
        self.limit_ns = limit_ns
        self.lost = False  # the alert is raised
        self.since_ns: int | None = None  # no good value since (monotonic ns); None: it has one
        self._on = False

    def check(self, gate: RunGate, on: bool, now_ns: int) -> str | None:
        if not on:
            self._on = False
            return None
        if not self._on:  # the guard (re)started watching: count from now
            self._on = True
            self.since_ns = None if gate.good else now_ns
        if gate.good:
            self.since_ns = None
            if self.lost:
                self.lost = False
                return "back"
            return None
        if self.since_ns is None:
            self.since_ns = now_ns
        if not self.lost and now_ns - self.since_ns >= self.limit_ns:
            self.lost = True
            return "lost"
        return None

    def missing_s(self, now_ns: int) -> float | None:
        """Seconds without a good gate value (None while it has one)."""
        since = self.since_ns
        return None if since is None else max(0.0, (now_ns - since) / 1e9)


def make_rule(rule: Rule) -> LimitRule | StallRule:
    return StallRule(rule) if rule.kind == "stalled" else LimitRule(rule)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "off", "no")
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except Exception:
        return False
