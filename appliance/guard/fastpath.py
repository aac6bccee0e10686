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

import heapq
import logging
import queue
import threading
import time
from typing import Any

from drivers.samples import Sample

from .engine import Guard
from .threads import realtime, scheduling, tight_timers, timer_slack_ns

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
        self.timer_slack_ns: dict[str, int | None] = {}  # per reader thread, as its kernel reports it
        self.scheduling: dict[str, str] = {}  # per reader thread: "fifo <priority>" | "normal"
        self.readers: list[Any] = []
        self._q: queue.SimpleQueue[Sample | None] = queue.SimpleQueue()
        self._publisher: threading.Thread | None = None
        self._only_guard: set[str] = set()
        self._last: dict[str, tuple[Any, Any, int]] = {}
        self._every_ns = PUBLISH_EVERY_MS * 1_000_000
        self.enabled = bool(config.guard.fast_path)
        self.watched = watched_signals(config)
        self._edges = GpioEdges(guard)
        if not self.enabled:
            return
        watched = self.watched
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
        opcua = [(i, srv, [s for s in srv.signals if s.name in watched and s.mode == "poll"
                           and not s.seq_node_id]) for i, srv in enumerate(config.sources.opcua)]
        opcua = [(i, srv, sigs) for i, srv, sigs in opcua if sigs]
        if opcua:
            from appliance.secrets import load_secrets
            from drivers.opcua.fast import FastOpcuaReader

            secrets = load_secrets() if any(srv.password_secret for _, srv, _ in opcua) else {}
            for i, srv, sigs in opcua:
                self.claimed |= {s.name for s in sigs}
                self.readers.append(FastOpcuaReader(srv, sigs, deliver=self._deliver,
                                                    on_start=lambda: self._reader_started(prio),
                                                    data_dir=config.box.data_dir, secrets=secrets,
                                                    key_path=f"sources.opcua[{i}]"))
        self._only_guard = {r.device.name for r in self.readers}  # until source_config() says otherwise

    def source_config(self, config: Any) -> Any:
        """``config`` without the signals the guard reads itself (what the core's sources poll).

        A server with a subscribed signal a rule watches asks for the fastest
        publishing interval the server grants (0 -> its minimum), and those
        signals for the fastest sampling, unless the config sets them.
        """
        config = self._fastest_subscriptions(config)
        if not self.claimed:
            return config
        devices = [d.model_copy(update={"signals": [s for s in d.signals if s.name not in self.claimed]})
                   for d in config.sources.modbus]
        self._only_guard = {d.name for d in devices if not d.signals}
        devices = [d for d in devices if d.signals]
        servers = [o.model_copy(update={"signals": [s for s in o.signals if s.name not in self.claimed]})
                   for o in config.sources.opcua]
        self._only_guard |= {o.name for o in servers if not o.signals}
        servers = [o for o in servers if o.signals]
        sources = config.sources.model_copy(update={"modbus": devices, "opcua": servers})
        return config.model_copy(update={"sources": sources})

    def _fastest_subscriptions(self, config: Any) -> Any:
        if not self.enabled:
            return config
        servers, changed = [], False
        for srv in config.sources.opcua:
            sigs = [s.model_copy(update={"sampling_interval_ms": 0})
                    if s.name in self.watched and s.mode == "subscribe"
                    and "sampling_interval_ms" not in s.model_fields_set else s for s in srv.signals]
            update: dict[str, Any] = {}
            if any(a is not b for a, b in zip(sigs, srv.signals, strict=True)):
                update["signals"] = sigs
            if (any(s.name in self.watched and s.mode == "subscribe" for s in srv.signals)
                    and "publishing_interval_ms" not in srv.model_fields_set):
                update["publishing_interval_ms"] = 0
            if update:
                changed = True
                log.info("guard: OPC UA %s asks the fastest publishing interval the server grants "
                         "(a rule watches a subscribed signal)", srv.name)
            servers.append(srv.model_copy(update=update) if update else srv)
        if not changed:
            return config
        sources = config.sources.model_copy(update={"opcua": servers})
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
        self._edges.stop()
        for r in self.readers:
            r.stop()
        if self._publisher is not None:
            self._q.put(None)
            self._publisher.join(5)
            self._publisher = None

    def attach(self, sources: list[Any]) -> None:
        """Take the GPIO inputs a rule watches straight from gpiozero's edge callbacks (issue 11).

        The guard debounces them itself (the source's ``debounce_ms``, the same
        :class:`~drivers.gpio.debounce.Debouncer`): a confirmed change is decided in
        gpiozero's thread and the relay is switched there; a level that still has to
        hold is confirmed by the ``guard-gpio-debounce`` thread at its deadline. The
        source keeps publishing the same debounced samples for the recorder and UI.
        """
        if not self.enabled:
            return
        watched = self.watched
        for src in sources:
            if getattr(src, "kind", None) != "gpio":
                continue
            for inp in src.cfg.inputs:
                if inp.name in watched:
                    self._edges.add(inp, bool(src.read(inp.name)) if inp.kind == "state" else False)
                    self.claimed.add(inp.name)
            if self._edges.inputs:
                src.on_edge(self._edges.on_edge)
        if self._edges.inputs:
            self._edges.start()
            self.guard.claim(self.claimed)
            log.info("guard fast path: GPIO %s decided in gpiozero's thread", ", ".join(sorted(self._edges.inputs)))

    def sources(self) -> list[Any]:
        """Readers whose device the core's sources no longer poll at all: their health is the
        device's (a device that the core still polls for other signals is alerted once, by its source)."""
        return [r for r in self.readers if r.device.name in self._only_guard]

    # ----- in the reader threads ------------------------------------------------------
    def _reader_started(self, prio: int) -> None:
        self.guard.fast_thread()
        realtime(prio, "guard fast reader")
        name = threading.current_thread().name
        self.timer_slack_ns[name] = timer_slack_ns()
        self.scheduling[name] = scheduling()

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


class _Edge:
    __slots__ = ("cfg", "debouncer", "lock", "count")

    def __init__(self, cfg: Any, level: bool) -> None:
        from drivers.gpio.debounce import Debouncer

        self.cfg = cfg
        self.debouncer = Debouncer(level, hold_ns=int(cfg.debounce_ms * 1_000_000), now_ns=time.monotonic_ns())
        self.lock = threading.Lock()
        self.count = 0


class GpioEdges:
    """Raw GPIO edges -> the guard's own debounce -> ``Guard.on_fast_sample`` in the edge's thread."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inputs: dict[str, _Edge] = {}
        self._due: list[tuple[int, str]] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def add(self, cfg: Any, level: bool) -> None:
        self.inputs[cfg.name] = _Edge(cfg, level)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="guard-gpio-debounce", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def on_edge(self, signal: str, active: bool, mono_ns: int) -> None:
        """In gpiozero's thread (the source's edge hook): never blocks beyond the stop writes."""
        e = self.inputs.get(signal)
        if e is None:
            return
        with e.lock:
            changes = e.debouncer.feed(active, mono_ns)
            due = e.debouncer.due_ns()
        self._deliver(e, changes)
        if due is not None:
            with self._cv:
                heapq.heappush(self._due, (due, signal))
                self._cv.notify()

    def _deliver(self, e: _Edge, changes: list[tuple[bool, int]]) -> None:
        if not changes:
            return
        self.guard.fast_thread()  # a rule that trips here writes the outputs here
        for level, since_ns in changes:
            if e.cfg.kind == "counter":
                if not level:
                    continue
                e.count += 1
                value: bool | int = e.count
            else:
                value = level
            self.guard.on_fast_sample(Sample(e.cfg.name, value, mono_ns=since_ns))

    def _run(self) -> None:
        tight_timers()  # a debounce delay ends at its deadline, not up to 50 µs later
        while True:
            with self._cv:
                while not self._stopping and not self._due:
                    self._cv.wait()
                if self._stopping:
                    return
                due, signal = self._due[0]
                wait = (due - time.monotonic_ns()) / 1e9
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._due)
            e = self.inputs[signal]
            with e.lock:
                change = e.debouncer.advance(time.monotonic_ns())
            if change is not None:
                self._deliver(e, [change])
