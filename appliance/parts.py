"""The long-lived parts of ``werkvloer core``, each an async context manager.

Every part gets what it needs in its arguments and yields the running part;
leaving the ``async with`` stops it. :meth:`appliance.daemon.Core.run` is the
one place they are built, in start-up order, on one ``AsyncExitStack``, so
shutdown runs in reverse: the IPC server closes first, then the drivers, the
guard (which de-energises a run-permit relay), the KPI engine and the alert
consumer (which drain what the guard handed them), the recorder, and the
database last. Nothing is assigned to a part after it is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .alerts import AlertSink
from .bus import Bus
from .config import BoxConfig
from .database import open_box_db
from .storage import set_setting, write_tx

if TYPE_CHECKING:
    from drivers.base import Source
    from drivers.gpio import StackLight
    from drivers.gpio.config import GpioConfig
    from drivers.gpio.output import LightState

    from .guard import Guard
    from .guard.fastpath import FastPath
    from .kpi.engine import KpiEngine

log = logging.getLogger(__name__)

DISK_CHECK_S = 60.0


class StartStop(Protocol):
    """A part with a blocking ``start()`` and ``stop()`` (its own thread)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


P = TypeVar("P", bound=StartStop)


@asynccontextmanager
async def started(part: P, *, start_off_loop: bool = False) -> AsyncIterator[P]:
    """``part.start()`` on the way in (on a worker thread when it opens files or
    connections), ``part.stop()`` on the way out."""
    if start_off_loop:
        await asyncio.to_thread(part.start)
    else:
        part.start()
    try:
        yield part
    finally:
        part.stop()


@asynccontextmanager
async def background(name: str, work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """An asyncio task for as long as the ``async with`` lasts; cancelled on the way out."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def box_database(db_path: Path) -> AsyncIterator[None]:
    """The box database, created and migrated; records the core's start."""
    db = await asyncio.to_thread(open_box_db, db_path)
    try:
        with write_tx(db):
            db.execute("INSERT INTO box_events(ts, kind, detail) VALUES (?, ?, ?)",
                       [time.time_ns(), "core.start", f"pid {os.getpid()}"])
        set_setting(db, "core.started_utc_ns", str(time.time_ns()))
        yield
    finally:
        db.conn.close()


def needs_pins(cfg: BoxConfig) -> bool:
    return (cfg.sources.gpio is not None or cfg.guard.reset_pin is not None
            or any(o.kind == "gpio" for o in cfg.guard.outputs))


def pin_factory(cfg: BoxConfig) -> Any:
    """The one gpiozero pin factory the GPIO source, the guard's GPIO outputs
    and the stack light share; None when nothing uses a pin."""
    if not needs_pins(cfg):
        return None
    from drivers.gpio import make_pin_factory

    return make_pin_factory(cfg.sources.gpio.pin_factory if cfg.sources.gpio else "auto")


def kpi_engine(cfg: BoxConfig, bus: Bus, sink: AlertSink) -> KpiEngine:
    from .kpi.engine import kpi_engine_for

    return kpi_engine_for(cfg, bus, alert_sink=sink)


@asynccontextmanager
async def guard(cfg: BoxConfig, bus: Bus, sink: AlertSink, *, pins: Any) -> AsyncIterator[Guard]:
    """The guard thread, its stop outputs opened before the first sample."""
    g = await asyncio.to_thread(_build_guard, cfg, sink, pins)
    await asyncio.to_thread(g.start)
    try:
        bus.subscribe_fast(g.on_sample)
        yield g
    finally:
        g.stop()


def _build_guard(cfg: BoxConfig, sink: AlertSink, pins: Any) -> Guard:
    from appliance.models.registry import ModelRegistry

    from .guard import Guard, build_outputs
    from .models.store import migrations as model_tables
    from .storage import open_db

    db = open_db(cfg.db_path, sets=[model_tables])
    try:
        registry = ModelRegistry(db, data_dir=cfg.box.data_dir)
        outputs = build_outputs(cfg.guard, gpio_factory=pins, data_dir=cfg.box.data_dir)
        # A model that scores only a machine at work is gated on machine.running_signal unless the
        # binding says otherwise (guard.models[].while_signal; appliance/guard/README.md).
        gcfg = cfg.guard.with_default_gates(cfg.machine.running_signal, registry.scores_only_while_running)
        return Guard(gcfg, registry=registry, outputs=outputs, alert_sink=sink, db_path=cfg.db_path,
                     gpio_factory=pins)
    finally:
        db.conn.close()


def fast_path(cfg: BoxConfig, g: Guard, bus: Bus) -> FastPath:
    """The guard's own readers of the signals its rules watch."""
    from .guard.fastpath import FastPath

    return FastPath(cfg, g, bus)


@asynccontextmanager
async def sources(cfg: BoxConfig, bus: Bus, *, pins: Any, fast: FastPath) -> AsyncIterator[tuple[Source, ...]]:
    """The drivers, started in config order; yields them with the fast path's
    own readers (health and device-lost alerts like any source)."""
    from .secrets import load_secrets
    from .sources import build_sources

    # Signals the guard reads on its own connection (fast path) are not polled again here.
    built = build_sources(fast.source_config(cfg), bus, gpio_factory=pins, secrets=load_secrets())
    async with AsyncExitStack() as stack:
        for source in built:
            await stack.enter_async_context(source)
        fast.attach(built)  # GPIO inputs a rule watches: decided in the edge thread
        yield (*built, *fast.sources())


async def watch_disk(data_dir: Path, sink: AlertSink) -> None:
    from .health import check_disk

    while True:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(check_disk, data_dir, sink=sink)
        await asyncio.sleep(DISK_CHECK_S)


SOURCE_WATCH_S = 1.0
SOURCE_GRACE_S = 15.0  # a device that never answered since start is "lost" after this


class SourceWatch:
    """Turns each source's ``available`` into alerts: one when a device is lost
    (or never answers after start), one info alert when it is back."""

    def __init__(self, sink: Any, *, grace_s: float = SOURCE_GRACE_S) -> None:
        self.sink = sink
        self.grace_s = grace_s
        self.lost: set[str] = set()

    def check(self, sources: Sequence[Any], uptime_s: float) -> None:
        for src in sources:
            h = src.health
            if h.available:
                if h.name in self.lost:
                    self.lost.discard(h.name)
                    self.sink.submit(
                        source="driver", kind="device_back", severity="info", dedupe_key=f"driver:{h.name}:back",
                        title={"nl": f"{h.name} antwoordt weer", "en": f"{h.name} answers again"})
            elif h.name not in self.lost and (h.last_good_utc_ns is not None or uptime_s > self.grace_s):
                self.lost.add(h.name)
                self.sink.submit(
                    source="driver", kind="device_lost", severity="critical", dedupe_key=f"driver:{h.name}:lost",
                    title={"nl": f"Geen verbinding met {h.name} ({h.kind})",
                           "en": f"No connection to {h.name} ({h.kind})"},
                    detail={"nl": "Het apparaat antwoordt niet. Controleer de kabel, de voeding en het adres. Tot "
                                  "het weer antwoordt, slaat de box zijn signalen op als ongeldig.",
                            "en": "The device does not answer. Check the cable, the power and the address. Until it "
                                  "answers again, the box stores its signals as bad quality.", "error": h.last_error})


async def watch_sources(sources: Sequence[Any], sink: AlertSink, *, since_mono: float) -> None:
    """``since_mono``: when the core started (``time.monotonic()``), for the grace period."""
    watch = SourceWatch(sink)
    while True:
        await asyncio.sleep(SOURCE_WATCH_S)
        watch.check(sources, time.monotonic() - since_mono)


STACK_LIGHT_PERIOD_S = 0.25
SIM_PINS_PERIOD_S = 0.02


@asynccontextmanager
async def gpio_extras(gpio: GpioConfig | None, *, pins: Any, g: Guard, kpi: KpiEngine, db_path: Path,
                      attention: Callable[[], bool] = lambda: False) -> AsyncIterator[StackLight | None]:
    """The stack light (yielded, or None), and mock pins driven by a simulator (demo, tests).
    ``attention()``: something a person must see that may not be stored as an alert yet
    (a database write failing)."""
    async with AsyncExitStack() as stack:
        light = None
        if gpio is not None and pins is not None:
            if gpio.stack_light is not None:
                from drivers.gpio import StackLight

                light = StackLight(gpio.stack_light, pin_factory=pins)
                light.open()
                stack.callback(light.close)
                await stack.enter_async_context(background("stack-light", _drive_stack_light(
                    light, g, kpi, db_path, attention)))
            if gpio.simulator:
                from gpiozero.pins.mock import MockFactory

                if not isinstance(pins, MockFactory):
                    log.error("sources.gpio.simulator is set but the pins are real; ignoring it "
                              "(it is for mock pins only)")
                else:
                    await stack.enter_async_context(background("sim-pins", _drive_sim_pins(gpio, pins)))
        yield light


def stack_light_state(*, tripped: bool, open_alerts: int, running: bool, attention: bool = False) -> LightState:
    """Red = stopped by the box; amber = something waits for a person (an open
    alert, or ``attention``: one that may not be stored yet); green = running."""
    if tripped:
        return "stopped"
    if open_alerts or attention:
        return "attention"
    return "running" if running else "off"


async def _drive_stack_light(light: StackLight, g: Guard, kpi: KpiEngine, db_path: Path,
                             attention: Callable[[], bool]) -> None:
    from .storage import connect

    conn = await asyncio.to_thread(connect, db_path, readonly=True)
    open_alerts = 0
    last_count = 0.0
    try:
        while True:
            now = asyncio.get_running_loop().time()
            if now - last_count > 2.0:
                last_count = now
                with contextlib.suppress(Exception):
                    open_alerts = (await asyncio.to_thread(
                        conn.execute, "SELECT count(*) FROM alerts WHERE state = 'raised'")).fetchone()[0]
            want = stack_light_state(tripped=bool(g.status().get("tripped")), open_alerts=open_alerts,
                                     running=kpi.status().get("state") == "running", attention=attention())
            if want != light.state:
                light.show(want)
            await asyncio.sleep(STACK_LIGHT_PERIOD_S)
    finally:
        conn.close()


async def _drive_sim_pins(gpio: GpioConfig, pins: Any) -> None:
    from drivers.gpio.sim import MachineSimPins

    from .simulator.run import control_request

    assert gpio.simulator is not None
    host, port = gpio.simulator.rsplit(":", 1)
    sim = MachineSimPins.from_config(gpio, pin_factory=pins)
    failing = False
    while True:
        try:
            values = (await asyncio.to_thread(control_request, host, int(port), {"op": "values"}, 1.0))["values"]
            sim.step_values(values)
            if failing:
                log.info("mock pins: simulator at %s answers again", gpio.simulator)
            failing = False
        except (OSError, ValueError, KeyError) as exc:
            if not failing:
                log.error("mock pins: no simulator at %s (%s); retrying", gpio.simulator, exc)
            failing = True
            await asyncio.sleep(1.0)
        await asyncio.sleep(SIM_PINS_PERIOD_S)
