"""Wiring of the alert sink, KPI engine and guard into the core.

Kept apart from ``daemon.py`` so each area's start and stop live in one
place. Each ``stack.callback`` runs at shutdown in reverse order: the guard
stops (and de-energises a run-permit relay) before the KPI engine and the
alert consumer, which drain what the guard handed them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .daemon import Core

log = logging.getLogger(__name__)

DISK_CHECK_S = 60.0


def needs_pins(core: Core) -> bool:
    cfg = core.config
    return (cfg.sources.gpio is not None or cfg.guard.reset_pin is not None
            or any(o.kind == "gpio" for o in cfg.guard.outputs))


async def start_all(core: Core, stack: AsyncExitStack) -> None:
    cfg = core.config
    from .alerts import AlertConsumer, AlertSink
    from .health import check_disk

    sink = AlertSink()
    core.alert_sink = sink
    consumer = AlertConsumer(sink, core.db_path)
    consumer.start()
    stack.callback(consumer.stop)

    from .kpi.engine import kpi_engine_for

    kpi = kpi_engine_for(cfg, core.bus, alert_sink=sink)
    kpi.start()
    stack.callback(kpi.stop)
    core.kpi = kpi
    core.watch_progress("kpi", kpi.progress)
    core.register_ipc("kpi.status", kpi.ipc_status)

    if needs_pins(core):
        from drivers.gpio import make_pin_factory

        core.gpio_factory = make_pin_factory(cfg.sources.gpio.pin_factory if cfg.sources.gpio else "auto")

    guard = await asyncio.to_thread(_build_guard, core, sink)
    await asyncio.to_thread(guard.start)  # opens the stop outputs before the first sample
    stack.callback(guard.stop)
    core.bus.subscribe_fast(guard.on_sample)
    core.guard = guard
    from .guard.fastpath import FastPath

    fast = FastPath(cfg, guard, core.bus)  # the guard's own readers of the signals its rules watch
    fast.start()
    stack.callback(fast.stop)
    core.fast_path = fast
    core.watch_progress("guard", guard.progress)
    from .guard import handlers

    # guard.status, guard.set_mode, guard.reset and models.reload (registry changes apply without a restart)
    for op, handler in handlers(guard).items():
        core.register_ipc(op, handler)

    async def watch_disk() -> None:
        while True:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(check_disk, core.data_dir, sink=sink)
            await asyncio.sleep(DISK_CHECK_S)

    task = asyncio.create_task(watch_disk(), name="disk-check")
    stack.push_async_callback(_cancel, task)
    task = asyncio.create_task(watch_sources(core, sink), name="source-watch")
    stack.push_async_callback(_cancel, task)


SOURCE_WATCH_S = 1.0
SOURCE_GRACE_S = 15.0  # a device that never answered since start is "lost" after this


class SourceWatch:
    """Turns each source's ``available`` into alerts: one when a device is lost
    (or never answers after start), one info alert when it is back."""

    def __init__(self, sink: Any, *, grace_s: float = SOURCE_GRACE_S) -> None:
        self.sink = sink
        self.grace_s = grace_s
        self.lost: set[str] = set()

    def check(self, sources: list[Any], uptime_s: float) -> None:
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
                    detail=f"{h.last_error or 'no answer'}; check cable, power and address. "
                           "Its signals are stored as bad quality until it answers.")


async def watch_sources(core: Core, sink: Any) -> None:
    watch = SourceWatch(sink)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        await asyncio.sleep(SOURCE_WATCH_S)
        watch.check(core.sources, loop.time() - start)


def _build_guard(core: Core, sink: Any) -> Any:
    from appliance.models.registry import ModelRegistry

    from .guard import Guard, build_outputs
    from .models.store import migrations as model_tables
    from .storage import open_db

    cfg = core.config
    db = open_db(core.db_path, sets=[model_tables])
    try:
        registry = ModelRegistry(db, data_dir=cfg.box.data_dir)
        outputs = build_outputs(cfg.guard, gpio_factory=core.gpio_factory, data_dir=cfg.box.data_dir)
        return Guard(cfg.guard, registry=registry, outputs=outputs, alert_sink=sink, db_path=core.db_path,
                     gpio_factory=core.gpio_factory)
    finally:
        db.conn.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


STACK_LIGHT_PERIOD_S = 0.25
SIM_PINS_PERIOD_S = 0.02


async def start_gpio_extras(core: Core, stack: AsyncExitStack) -> None:
    """The stack light, and mock pins driven by a simulator (demo, tests)."""
    gpio = core.config.sources.gpio
    if gpio is None or core.gpio_factory is None:
        return
    if gpio.stack_light is not None:
        from drivers.gpio import StackLight

        light = StackLight(gpio.stack_light, pin_factory=core.gpio_factory)
        light.open()
        stack.callback(light.close)
        core.stack_light = light
        task = asyncio.create_task(_drive_stack_light(core, light), name="stack-light")
        stack.push_async_callback(_cancel, task)
    if gpio.simulator:
        from gpiozero.pins.mock import MockFactory

        if not isinstance(core.gpio_factory, MockFactory):
            log.error("sources.gpio.simulator is set but the pins are real; ignoring it (it is for mock pins only)")
            return
        task = asyncio.create_task(_drive_sim_pins(core, gpio), name="sim-pins")
        stack.push_async_callback(_cancel, task)


def stack_light_state(*, tripped: bool, open_alerts: int, running: bool) -> str:
    """Red = stopped by the box; amber = something waits for a person; green = running."""
    if tripped:
        return "stopped"
    if open_alerts:
        return "attention"
    return "running" if running else "off"


async def _drive_stack_light(core: Core, light: Any) -> None:
    from .storage import connect

    conn = await asyncio.to_thread(connect, core.db_path, readonly=True)
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
            guard = core.guard.status() if core.guard is not None else {}
            state = core.kpi.status().get("state") if core.kpi is not None else None
            want = stack_light_state(tripped=bool(guard.get("tripped")), open_alerts=open_alerts,
                                     running=state == "running")
            if want != light.state:
                light.show(want)
            await asyncio.sleep(STACK_LIGHT_PERIOD_S)
    finally:
        conn.close()


async def _drive_sim_pins(core: Core, gpio: Any) -> None:
    from drivers.gpio.sim import MachineSimPins

    from .simulator.run import control_request

    host, port = gpio.simulator.rsplit(":", 1)
    pins = MachineSimPins.from_config(gpio, pin_factory=core.gpio_factory)
    failing = False
    while True:
        try:
            values = (await asyncio.to_thread(control_request, host, int(port), {"op": "values"}, 1.0))["values"]
            pins.step_values(values)
            if failing:
                log.info("mock pins: simulator at %s answers again", gpio.simulator)
            failing = False
        except (OSError, ValueError, KeyError) as exc:
            if not failing:
                log.error("mock pins: no simulator at %s (%s); retrying", gpio.simulator, exc)
            failing = True
            await asyncio.sleep(1.0)
        await asyncio.sleep(SIM_PINS_PERIOD_S)
