"""``werkvloer core``: composes the box's parts and keeps systemd informed.

:meth:`Core.run` is the composition root: it builds every long-lived part
(``appliance/parts.py``), each with its dependencies passed in, in this order
on one ``AsyncExitStack``, so shutdown runs in reverse:

database -> recorder thread -> alert consumer -> KPI engine -> pin factory ->
guard thread (its stop outputs opened before the first sample) -> the guard's
fast path -> disk check -> sources (drivers) -> source watch -> stack light
and mock pins -> IPC server -> watchdog.

READY=1 is sent once the IPC server listens; WATCHDOG=1 is sent only while
the event loop, the guard thread, the KPI engine and the recorder thread all
show progress, so a stuck part stops the pings and systemd restarts the
service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import parts
from .alerts import AlertConsumer, AlertSink
from .bus import Bus
from .config import BoxConfig
from .dbwatch import DbWriteWatch, watch_db_writes
from .ipc import Handler, IpcServer, socket_path
from .notify import Notifier, watchdog_interval_s
from .recorder import Recorder

if TYPE_CHECKING:
    from drivers.base import Source
    from drivers.gpio import StackLight

    from .guard import Guard
    from .kpi.engine import KpiEngine

log = logging.getLogger(__name__)

# A part that has not shown progress for this long is stuck.
STUCK_AFTER_S = 10.0


class Watchdog:
    """Sends WATCHDOG=1 while every part in ``checks`` (name -> monotonic time
    of its last progress) and the event loop show progress; withholds it, and
    says which part is stuck, when one does not."""

    def __init__(self, checks: Mapping[str, Callable[[], float]], notifier: Notifier, *,
                 stuck_after_s: float, summary: Callable[[], str]) -> None:
        self.checks = dict(checks)
        self.notifier = notifier
        self.stuck_after_s = stuck_after_s
        self.summary = summary
        self.stalled = False
        self._loop_progress = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def stuck_parts(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        stuck = [name for name, progress in self.checks.items() if now - progress() > self.stuck_after_s]
        if now - self._loop_progress > self.stuck_after_s:
            stuck.append("event loop")
        return stuck

    async def __aenter__(self) -> Watchdog:
        self._task = asyncio.create_task(self._run(), name="watchdog")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        interval = watchdog_interval_s()
        period = min(interval or 1.0, 1.0)
        while True:
            self._loop_progress = time.monotonic()
            stuck = self.stuck_parts()
            if stuck:
                if not self.stalled:
                    log.error("watchdog: %s stopped making progress; withholding WATCHDOG=1 so systemd restarts the core",
                              ", ".join(stuck))
                    self.notifier.status(f"STUCK: {', '.join(stuck)}")
                self.stalled = True
            else:
                if self.stalled:
                    log.info("watchdog: all parts make progress again")
                    self.notifier.status(self.summary())
                self.stalled = False
                if interval is not None:
                    self.notifier.watchdog()
            await asyncio.sleep(period)


@dataclass(frozen=True)
class RunningBox:
    """The started parts, as the IPC ops ``status`` and ``live`` read them."""

    bus: Bus
    sources: Sequence[Source]
    recorder: Recorder
    alerts: AlertConsumer
    guard: Guard
    kpi: KpiEngine
    stack_light: StackLight | None
    db_watch: DbWriteWatch
    started_mono: float

    def summary(self) -> str:
        ok = sum(1 for s in self.sources if getattr(s.health, "available", False))
        line = f"running: {len(self.sources)} sources ({ok} answering), guard {self.guard.status().get('mode')}"
        if failing := self.db_watch.failing():
            line += f"; cannot store: {', '.join(sorted(failing))} (see alerts, free space)"
        return line

    def health(self, *, watchdog_stalled: bool) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        for s in self.sources:
            h = s.health
            out.append({"name": h.name, "kind": h.kind, "state": h.state, "available": h.available,
                        "last_good_utc_ns": h.last_good_utc_ns, "last_error": h.last_error})
        out.append({"kind": "recorder", **self.recorder.health()})
        out.append({"kind": "alerts", **self.alerts.health()})
        g = self.guard.status()
        out.append({"name": "guard", "kind": "guard", "state": g.get("state", g.get("mode")),
                    "available": g.get("healthy", True), "last_good_utc_ns": g.get("last_good_utc_ns"),
                    "mode": g.get("mode"), "tripped": g.get("tripped")})
        if "writer" in g:
            out.append({"kind": "guard-writer", **g["writer"]})
        out.append({"kind": "kpi", **self.kpi.health()})
        return {"parts": out, "uptime_s": round(time.monotonic() - self.started_mono, 1),
                "watchdog_stalled": watchdog_stalled, "db_write_failing": self.db_watch.failing()}

    def live(self) -> dict[str, Any]:
        values = {name: {"v": s.value, "q": int(s.quality), "t": s.utc_ns}
                  for name, s in self.bus.latest().items()}
        out: dict[str, Any] = {"values": values, "utc_ns": time.time_ns(), "guard": self.guard.status(),
                               "state": self.kpi.status(), "db_write_failing": sorted(self.db_watch.failing())}
        if self.stack_light is not None:
            out["stack_light"] = self.stack_light.state
        return out


class Core:
    """``werkvloer core``: ``await Core(config).run(stop)`` runs until ``stop`` is set."""

    def __init__(self, config: BoxConfig, *, notifier: Notifier | None = None,
                 stuck_after_s: float = STUCK_AFTER_S) -> None:
        self.config = config
        self.data_dir = Path(config.box.data_dir)
        self.db_path = config.db_path
        self.notifier = notifier or Notifier()
        self.stuck_after_s = stuck_after_s
        self.started_mono = time.monotonic()
        self._extra_checks: dict[str, Callable[[], float]] = {}

    def watch_progress(self, name: str, progress_mono: Callable[[], float]) -> None:
        """Before :meth:`run`: add a part of the caller's own to the systemd
        watchdog; ``progress_mono()`` is the monotonic time of its last progress."""
        self._extra_checks[name] = progress_mono

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bus = Bus()
        async with contextlib.AsyncExitStack() as stack:
            enter = stack.enter_async_context
            self._status("opening database")
            await enter(parts.box_database(self.db_path))
            recorder = await enter(parts.started(Recorder(
                self.db_path, bus.subscribe_queue("recorder"),
                batch_interval_s=cfg.storage.batch_interval_s, retention_days=cfg.storage.raw_retention_days,
                signal_meta=self._signal_meta()), start_off_loop=True))
            sink = AlertSink()
            alerts = await enter(parts.started(AlertConsumer(sink, self.db_path)))
            kpi = await enter(parts.started(parts.kpi_engine(cfg, bus, sink)))
            pins = parts.pin_factory(cfg)
            guard = await enter(parts.guard(cfg, bus, sink, pins=pins))
            fast = await enter(parts.started(parts.fast_path(cfg, guard, bus)))
            await enter(parts.background("disk-check", parts.watch_disk(self.data_dir, sink)))
            db_watch = DbWriteWatch(sink, {
                "recorder": recorder.health, "alert-consumer": alerts.health,
                "kpi": lambda: {**kpi.health(), "last_error": kpi.last_error},
                "guard-writer": lambda: guard.status()["writer"]})
            await enter(parts.background("db-write-watch", watch_db_writes(db_watch)))
            self._status("starting drivers")
            watch_from = time.monotonic()
            sources = await enter(parts.sources(cfg, bus, pins=pins, fast=fast))
            await enter(parts.background("source-watch", parts.watch_sources(sources, sink, since_mono=watch_from)))
            light = await enter(parts.gpio_extras(cfg.sources.gpio, pins=pins, g=guard, kpi=kpi,
                                                  db_path=self.db_path, attention=lambda: bool(db_watch.failing())))
            box = RunningBox(bus=bus, sources=sources, recorder=recorder, alerts=alerts, guard=guard, kpi=kpi,
                             stack_light=light, db_watch=db_watch, started_mono=self.started_mono)
            watchdog = Watchdog({**self._extra_checks, "recorder": lambda: recorder.progress_mono,
                                 "kpi": kpi.progress, "guard": guard.progress},
                                self.notifier, stuck_after_s=self.stuck_after_s, summary=box.summary)
            await enter(IpcServer(socket_path(self.data_dir), self._ipc_handlers(box, watchdog),
                                  {"live": box.live}, role_key=await asyncio.to_thread(_session_key, self.data_dir)))

            stack.push_async_callback(self._say_stopping)
            _release_free_heap()
            self.notifier.ready(box.summary())
            log.info("core ready in %.2f s: %s", time.monotonic() - self.started_mono, box.summary())
            async with watchdog:
                await stop.wait()
            log.info("core stopping")

    @staticmethod
    def _ipc_handlers(box: RunningBox, watchdog: Watchdog) -> dict[str, Handler]:
        from .guard import handlers as guard_handlers

        return {
            "status": lambda req: box.health(watchdog_stalled=watchdog.stalled),
            "live": lambda req: box.live(),
            "kpi.status": box.kpi.ipc_status,
            # guard.status, guard.set_mode, guard.reset and models.reload (registry changes apply without a restart)
            **guard_handlers(box.guard),
        }

    async def _say_stopping(self) -> None:
        self.notifier.stopping("stopping: closing drivers, guard and recorder")

    def _signal_meta(self) -> dict[str, tuple[str | None, str | None]]:
        s = self.config.sources
        groups: list[tuple[str, list[Any]]] = [(f"modbus:{d.name}", list(d.signals)) for d in s.modbus]
        groups += [(f"opcua:{o.name}", list(o.signals)) for o in s.opcua]
        if s.gpio:
            groups.append(("gpio", [*s.gpio.inputs, *s.gpio.analog]))
        return {sig.name: (sig.unit, source) for source, signals in groups for sig in signals}

    def _status(self, text: str) -> None:
        log.debug("status: %s", text)
        self.notifier.status(text)


def _session_key(data_dir: Path) -> bytes:
    from .keys import session_key

    return session_key(data_dir)


def _release_free_heap() -> None:
    """Give the memory freed during start-up (imports, migrations, model
    validation) back to the OS: glibc keeps it otherwise, and on a 1-4 GB Pi
    the core's RSS is what is watched (malloc_trim(3))."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim
        pass


async def run_core(config: BoxConfig, *, notifier: Notifier | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    core = Core(config, notifier=notifier)
    try:
        await core.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("core stopped")
    return 0
