"""Sample routing: which handler each signal's samples go to, on the publisher's thread.

``Guard.on_sample`` (bus) and ``Guard.on_fast_sample`` (the guard's own
readers) are O(1) per sample: a ring push, a rule update (a few comparisons
under a per-rule lock), a ``SimpleQueue.put`` to wake an inference thread.
A rule that trips in one of the guard's own reader threads (``fast_thread``)
is decided and written out right there; on a driver's event loop it is
handed to the guard thread instead. Mixed into ``Guard``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from drivers.samples import Quality, Sample

from .bindings import Binding, number
from .decide import LimitRule, StallRule
from .rings import ScalarRing

_WAKE: tuple[()] = ()  # on the rule-trip queue: a rule has a new deadline, recompute the wait


class SampleRoutes:
    # Provided by the guard.
    _bindings: list[Binding]
    _rules: list[LimitRule | StallRule]
    _routes: dict[str, tuple[Callable[[Sample], None], ...]]
    _rule_trips: queue.SimpleQueue[Any]
    _tls: threading.local
    _claimed: frozenset[str]
    _mode: str
    _counters: dict[str, int]
    _rule_trip: Any

    def _build_routes(self) -> None:
        routes: dict[str, list[Callable[[Sample], None]]] = {}
        for b in self._bindings:
            if b.model is None:
                continue
            primary_sig = b.cfg.inputs[0]
            routes.setdefault(primary_sig, []).append(self._primary_handler(b))
            for sig in b.cfg.inputs[1:]:
                routes.setdefault(sig, []).append(self._scalar_handler(b.rings[sig]))  # type: ignore[arg-type]
            if b.cfg.while_signal:
                routes.setdefault(b.cfg.while_signal, []).append(self._model_gate_handler(b))
        for r in self._rules:
            routes.setdefault(r.rule.signal, []).append(self._rule_handler(r))
            if r.rule.while_signal:
                routes.setdefault(r.rule.while_signal, []).append(self._gate_handler(r))
        self._routes = {k: tuple(v) for k, v in routes.items()}

    def _primary_handler(self, b: Binding) -> Callable[[Sample], None]:
        ring = b.primary
        assert ring is not None
        window_n, hop, q = b.window_n, b.hop, b.q

        def handle(sample: Sample) -> None:
            block = sample.block
            if sample.quality is not Quality.GOOD or block is None:
                ring.bad += 1
                ring.clear()  # a bad block is a hole in the signal: start the window again
                ring.next_seq = None
                return
            n = ring.push(block if block.dtype == np.float32 else np.asarray(block, np.float32), sample.seq)
            if n == 0:
                return
            b.since_hop += n
            if b.since_hop >= hop and ring.total >= window_n:
                b.since_hop = 0
                b.trigger_ns = sample.mono_ns
                b.trigger_signal = sample.signal
                if b.state != "ok":
                    return
                if b.pending:
                    b.skipped += 1  # the model is slower than the hop: score the newest window only
                    return
                b.pending = True
                q.put(True)

        return handle

    @staticmethod
    def _scalar_handler(ring: ScalarRing) -> Callable[[Sample], None]:
        def handle(sample: Sample) -> None:
            v = number(sample)
            if v is None:
                ring.bad += 1
                return
            ring.push(v, sample.mono_ns)

        return handle

    def _rule_handler(self, rule: LimitRule | StallRule) -> Callable[[Sample], None]:
        trips, tls, timed = self._rule_trips, self._tls, rule.hold_ns > 0

        def handle(sample: Sample) -> None:
            v = number(sample)
            if v is None:
                return  # NaN, None, bad or stale: neither proof of a fault nor of its end
            before = rule.deadline_ns() if timed else None
            if rule.on_value(v, sample.mono_ns):
                if getattr(tls, "inline", False):
                    # The guard's own reader thread (fast path): decide and write the outputs here.
                    self._rule_trip(rule, sample.mono_ns)
                else:
                    trips.put((rule, sample.mono_ns))  # a driver's event loop: the guard thread fires
            elif timed and rule.deadline_ns() != before:
                # A new "for_ms" deadline: wake the guard thread so that it waits for exactly that
                # moment, not for the end of its tick (issue 11: timed rules fire on time).
                trips.put(_WAKE)

        return handle

    @staticmethod
    def _gate_handler(rule: LimitRule | StallRule) -> Callable[[Sample], None]:
        def handle(sample: Sample) -> None:
            if sample.quality is Quality.GOOD:
                rule.on_gate(sample.value, sample.mono_ns)

        return handle

    @staticmethod
    def _model_gate_handler(b: Binding) -> Callable[[Sample], None]:
        gate = b.gate

        def handle(sample: Sample) -> None:
            if gate.on_value(sample.value, sample.quality is Quality.GOOD, sample.mono_ns):
                b.reset_requested = True  # stopped: the N-of-M debounce starts afresh at the next start

        return handle

    def fast_thread(self) -> None:
        """Mark the calling thread as one of the guard's own readers: a rule that trips on a
        sample it hands to :meth:`on_sample` is decided and written out in that thread."""
        self._tls.inline = True

    def claim(self, signals: set[str]) -> None:
        """Signals the guard reads itself (fast path): their copies on the bus are ignored."""
        self._claimed = frozenset(signals)

    def on_sample(self, sample: Sample) -> None:
        """Bus fast subscriber: O(1) (a block copy), never blocks, never raises."""
        if sample.signal in self._claimed:
            return  # read by the guard's own reader, which handed it to on_fast_sample already
        self.on_fast_sample(sample)

    def on_fast_sample(self, sample: Sample) -> None:
        """A sample from the guard's own reader (in a :meth:`fast_thread`): a rule trips in that thread."""
        routes = self._routes.get(sample.signal)
        if routes is None or self._mode == "off":
            return
        self._counters["samples"] += 1
        for handle in routes:
            handle(sample)
