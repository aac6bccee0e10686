"""The guard's fast path: its own readers for the signals its rules watch (issue 11).

Which signals: every scalar signal of a Modbus TCP device that a guard rule
watches (``signal`` or ``while_signal``), when ``guard.fast_path`` is on (the
default). They are read by :class:`drivers.modbus.fast.FastModbusReader` in a
thread of its own, on its own connection, at the signal's
``poll_interval_ms`` (1 ms, or 0 = back to back); the rule is decided and the
stop outputs are written in that thread (``Guard.fast_thread``). The core's
``ModbusSource`` no longer polls them (:meth:`FastPath.source_config`).

The recorder, KPIs and UI get the same samples off the fast path: the reader
puts them on a queue, and a publisher thread hands them to the bus (the guard
ignores its own signals there). So that a 1 ms poll does not store 1,000 rows
a second, a signal is published when its value or quality changes and at
least every ``PUBLISH_EVERY_MS`` otherwise.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from appliance.samples import Sample

from .engine import Guard, realtime

log = logging.getLogger(__name__)

PUBLISH_EVERY_MS = 100


def watched_signals(config: Any) -> set[str]:
    g = config.guard
    names = {r.signal for r in g.rules} | {r.while_signal for r in g.rules if r.while_signal}
    return names


class FastPath:
    """Readers + the publisher thread. ``start()`` / ``stop()``; ``sources()`` for the health watch."""

    def __init__(self, config: Any, guard: Guard, bus: Any) -> None:
        from drivers.modbus.fast import FastModbusReader

        self.guard = guard
        self.bus = bus
        self.claimed: set[str] = set()
        self.readers: list[Any] = []
        self._q: queue.SimpleQueue[Sample | None] = queue.SimpleQueue()
        self._publisher: threading.Thread | None = None
        self._only_guard: set[str] = set()
        self._last: dict[str, tuple[Any, Any, int]] = {}
        self._every_ns = PUBLISH_EVERY_MS * 1_000_000
        if not config.guard.fast_path:
            return
        watched = watched_signals(config)
        prio = config.guard.rt_priority
        for dev in config.sources.modbus:
            if dev.transport != "tcp":
                continue
            sigs = [s for s in dev.signals if s.name in watched and s.type not in ("string", "block")]
            if not sigs:
                continue
            self.claimed |= {s.name for s in sigs}
            self.readers.append(FastModbusReader(dev, sigs, deliver=self._deliver,
                                                 on_start=lambda: self._reader_started(prio)))
        self._only_guard = {r.device.name for r in self.readers}  # until source_config() says otherwise

    def source_config(self, config: Any) -> Any:
        """``config`` without the signals the guard reads itself (what the core's sources poll)."""
        if not self.claimed:
            return config
        devices = [d.model_copy(update={"signals": [s for s in d.signals if s.name not in self.claimed]})
                   for d in config.sources.modbus]
        self._only_guard = {d.name for d in devices if not d.signals}
        devices = [d for d in devices if d.signals]
        sources = config.sources.model_copy(update={"modbus": devices})
        return config.model_copy(update={"sources": sources})

    def start(self) -> None:
        if not self.readers:
            return
        self.guard.claim(self.claimed)
        self._publisher = threading.Thread(target=self._publish_loop, name="guard-fast-publish", daemon=True)
        self._publisher.start()
        for r in self.readers:
            r.start()
        log.info("guard fast path: %s read by the guard itself (%s)", ", ".join(sorted(self.claimed)),
                 ", ".join(f"{r.device.name} every {r.interval_ns / 1e6:g} ms" if r.interval_ns
                           else f"{r.device.name} back to back" for r in self.readers))

    def stop(self) -> None:
        for r in self.readers:
            r.stop()
        if self._publisher is not None:
            self._q.put(None)
            self._publisher.join(5)
            self._publisher = None

    def sources(self) -> list[Any]:
        """Readers whose device the core's sources no longer poll at all: their health is the
        device's (a device that the core still polls for other signals is alerted once, by its source)."""
        return [r for r in self.readers if r.device.name in self._only_guard]

    # ----- in the reader threads ------------------------------------------------------
    def _reader_started(self, prio: int) -> None:
        self.guard.fast_thread()
        realtime(prio, "guard fast reader")

    def _deliver(self, samples: list[Sample]) -> None:
        on_sample = self.guard.on_fast_sample
        for s in samples:
            on_sample(s)  # decided here; a trip writes the outputs before we return
        last, every, put = self._last, self._every_ns, self._q.put
        for s in samples:
            prev = last.get(s.signal)
            if prev is None or prev[0] != s.value or prev[1] is not s.quality or s.mono_ns - prev[2] >= every:
                last[s.signal] = (s.value, s.quality, s.mono_ns)
                put(s)

    # ----- the publisher thread -------------------------------------------------------
    def _publish_loop(self) -> None:
        while True:
            s = self._q.get()
            if s is None:
                return
            try:
                self.bus.publish(s)
            except Exception:
                log.exception("guard fast path: publishing %s failed", s.signal)
