"""``werkvloer core``: composes the box's parts and keeps systemd informed.

Start order (shutdown runs in reverse, by AsyncExitStack): database and
recorder thread -> alert sink consumer -> KPI engine -> guard thread (its stop
outputs opened before the first sample) -> sources (drivers) -> IPC server.
READY=1 is sent once the sources are started; WATCHDOG=1 is sent only while
the event loop, the guard thread and the recorder thread all show progress, so
a stuck part stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from .bus import Bus
from .config import BoxConfig
from .database import open_box_db
from .ipc import Handler, IpcServer, socket_path
from .notify import Notifier, watchdog_interval_s
from .recorder import Recorder
from .storage import set_setting

log = logging.getLogger(__name__)

# A part that has not shown progress for this long is stuck.
STUCK_AFTER_S = 10.0


class Core:
    def __init__(self, config: BoxConfig, *, notifier: Notifier | None = None,
                 stuck_after_s: float = STUCK_AFTER_S) -> None:
        self.config = config
        self.data_dir = Path(config.box.data_dir)
        self.db_path = config.db_path
        self.bus = Bus()
        self.notifier = notifier or Notifier()
        self.stuck_after_s = stuck_after_s
        self.sources: list[Any] = []
        self.recorder: Recorder | None = None
        self.guard: Any = None
        self.fast_path: Any = None  # appliance.guard.fastpath.FastPath
        self.kpi: Any = None
        self.alert_sink: Any = None
        self.gpio_factory: Any = None
        self.stack_light: Any = None
        self.ipc: IpcServer | None = None
        self.started_mono = time.monotonic()
        self._loop_progress = time.monotonic()
        self._watchdog_stalled = False
        self._progress_checks: dict[str, Callable[[], float]] = {}
        self._extra_ipc: dict[str, Handler] = {}

    # ----- composition -------------------------------------------------------
    def register_ipc(self, op: str, handler: Handler) -> None:
        self._extra_ipc[op] = handler
        if self.ipc is not None:
            self.ipc.register(op, handler)

    def watch_progress(self, name: str, progress_mono: Callable[[], float]) -> None:
        """Add a critical part to the systemd watchdog: ``progress_mono()`` is
        the monotonic time of its last progress."""
        self._progress_checks[name] = progress_mono

    async def run(self, stop: asyncio.Event) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            self._status("opening database")
            db = await asyncio.to_thread(open_box_db, self.db_path)
            stack.callback(db.conn.close)
            self._record_event(db, "core.start", f"pid {os.getpid()}")
            set_setting(db, "core.started_utc_ns", str(time.time_ns()))

            self.recorder = Recorder(
                self.db_path, self.bus.subscribe_queue("recorder"),
                batch_interval_s=self.config.storage.batch_interval_s,
                retention_days=self.config.storage.raw_retention_days,
                signal_meta=self._signal_meta())
            await asyncio.to_thread(self.recorder.start)
            stack.callback(self.recorder.stop)
            self.watch_progress("recorder", lambda: self.recorder.progress_mono if self.recorder else 0.0)

            from .parts import start_all, start_gpio_extras
            from .secrets import load_secrets
            from .sources import build_sources

            await start_all(self, stack)  # alerts, KPI engine, guard (its outputs opened)
            self._status("starting drivers")

            # Signals the guard reads on its own connection (fast path) are not polled again here.
            src_cfg = self.fast_path.source_config(self.config) if self.fast_path is not None else self.config
            self.sources = build_sources(src_cfg, self.bus, gpio_factory=self.gpio_factory,
                                         secrets=load_secrets())
            for source in self.sources:
                await stack.enter_async_context(source)
            if self.fast_path is not None:
                self.fast_path.attach(self.sources)  # GPIO inputs a rule watches: decided in the edge thread
                self.sources += self.fast_path.sources()  # health and device-lost alerts like any source
            await start_gpio_extras(self, stack)

            from .keys import session_key

            self.ipc = IpcServer(socket_path(self.data_dir), self._ipc_handlers(), {"live": self.live},
                                 role_key=await asyncio.to_thread(session_key, self.data_dir))
            await stack.enter_async_context(self.ipc)

            stack.push_async_callback(self._say_stopping)
            _release_free_heap()
            self.notifier.ready(self._summary())
            log.info("core ready in %.2f s: %s", time.monotonic() - self.started_mono, self._summary())
            watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
            try:
                await stop.wait()
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
                log.info("core stopping")

    async def _say_stopping(self) -> None:
        self.notifier.stopping("stopping: closing drivers, guard and recorder")

    def _signal_meta(self) -> dict[str, tuple[str | None, str | None]]:
        s = self.config.sources
        groups: list[tuple[str, list[Any]]] = [(f"modbus:{d.name}", list(d.signals)) for d in s.modbus]
        groups += [(f"opcua:{o.name}", list(o.signals)) for o in s.opcua]
        if s.gpio:
            groups.append(("gpio", [*s.gpio.inputs, *s.gpio.analog]))
        return {sig.name: (sig.unit, source) for source, signals in groups for sig in signals}

    def _record_event(self, db: Any, kind: str, detail: str) -> None:
        with db.conn:
            db.execute("INSERT INTO box_events(ts, kind, detail) VALUES (?, ?, ?)", [time.time_ns(), kind, detail])

    def _status(self, text: str) -> None:
        log.debug("status: %s", text)
        self.notifier.status(text)

    def _summary(self) -> str:
        ok = sum(1 for s in self.sources if getattr(s.health, "available", False))
        mode = self.guard.status().get("mode") if self.guard is not None else "not running"
        return f"running: {len(self.sources)} sources ({ok} answering), guard {mode}"

    # ----- health, live values, IPC -----------------------------------------------
    def health(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        for s in self.sources:
            h = s.health
            parts.append({"name": h.name, "kind": h.kind, "state": h.state, "available": h.available,
                          "last_good_utc_ns": h.last_good_utc_ns, "last_error": h.last_error})
        if self.recorder is not None:
            parts.append({"kind": "recorder", **self.recorder.health()})
        if self.guard is not None:
            g = self.guard.status()
            parts.append({"name": "guard", "kind": "guard", "state": g.get("state", g.get("mode")),
                          "available": g.get("healthy", True), "last_good_utc_ns": g.get("last_good_utc_ns"),
                          "mode": g.get("mode"), "tripped": g.get("tripped")})
        if self.kpi is not None and hasattr(self.kpi, "health"):
            parts.append({"kind": "kpi", **self.kpi.health()})
        return {"parts": parts, "uptime_s": round(time.monotonic() - self.started_mono, 1),
                "watchdog_stalled": self._watchdog_stalled}

    def live(self) -> dict[str, Any]:
        values = {name: {"v": s.value, "q": int(s.quality), "t": s.utc_ns}
                  for name, s in self.bus.latest().items()}
        out: dict[str, Any] = {"values": values, "utc_ns": time.time_ns()}
        if self.guard is not None:
            out["guard"] = self.guard.status()
        if self.kpi is not None and hasattr(self.kpi, "status"):
            out["state"] = self.kpi.status()
        if self.stack_light is not None:
            out["stack_light"] = self.stack_light.state
        return out

    def _ipc_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "status": lambda req: self.health(),
            "live": lambda req: self.live(),
        }
        handlers.update(self._extra_ipc)
        return handlers

    # ----- watchdog ----------------------------------------------------------------
    def stuck_parts(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        stuck = [name for name, progress in self._progress_checks.items()
                 if now - progress() > self.stuck_after_s]
        if now - self._loop_progress > self.stuck_after_s:
            stuck.append("event loop")
        return stuck

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        period = min(interval or 1.0, 1.0)
        while True:
            self._loop_progress = time.monotonic()
            stuck = self.stuck_parts()
            if stuck:
                if not self._watchdog_stalled:
                    log.error("watchdog: %s stopped making progress; withholding WATCHDOG=1 so systemd restarts the core",
                              ", ".join(stuck))
                    self.notifier.status(f"STUCK: {', '.join(stuck)}")
                self._watchdog_stalled = True
            else:
                if self._watchdog_stalled:
                    log.info("watchdog: all parts make progress again")
                    self.notifier.status(self._summary())
                self._watchdog_stalled = False
                if interval is not None:
                    self.notifier.watchdog()
            await asyncio.sleep(period)


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
