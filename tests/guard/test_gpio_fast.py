"""GPIO inputs a rule watches: decided in gpiozero's edge thread, relay switched there, debounce applied
there (issue 11). gpiozero's MockFactory pins; the source runs on a real asyncio loop that the test blocks."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from appliance.bus import Bus
from appliance.config import BoxConfig
from appliance.guard import Guard, build_outputs
from appliance.guard.fastpath import FastPath
from drivers.gpio import GpioSource

from .conftest import wait_for

DOOR, RELAY = 22, 17


def run(tmp_path: Path, sink: Any, factory: Any, *, debounce_ms: float, body: Any) -> None:
    cfg = BoxConfig.model_validate({
        "sources": {"gpio": {"pin_factory": "mock", "inputs": [
            {"name": "door_open", "pin": DOOR, "pull_up": True, "debounce_ms": debounce_ms}]}},
        "guard": {"mode": "armed",
                  "rules": [{"name": "door", "kind": "above", "signal": "door_open", "limit": 0.5}],
                  "outputs": [{"name": "stop_relay", "kind": "gpio", "pin": RELAY}]}})
    threads: list[str] = []
    guard = Guard(cfg.guard, outputs=build_outputs(cfg.guard, gpio_factory=factory), alert_sink=sink,
                  db_path=tmp_path / "w.db", gpio_factory=factory,
                  trip_listener=lambda t: threads.append(threading.current_thread().name))
    guard.start()
    bus = Bus()
    bus.subscribe_fast(guard.on_sample)
    fast = FastPath(cfg, guard, bus)
    loop = asyncio.new_event_loop()
    lt = threading.Thread(target=loop.run_forever, name="core-loop", daemon=True)
    lt.start()
    src = GpioSource(cfg.sources.gpio, bus, pin_factory=factory)  # type: ignore[arg-type]
    asyncio.run_coroutine_threadsafe(src.__aenter__(), loop).result(5)
    fast.attach([src])
    blocked, release = threading.Event(), threading.Event()
    loop.call_soon_threadsafe(lambda: (blocked.set(), release.wait(30)))
    try:
        assert guard.wait_outputs(5) and blocked.wait(5)
        body(guard, factory.pin(DOOR), factory.pin(RELAY), threads, release, fast)
    finally:
        release.set()
        fast.stop()
        asyncio.run_coroutine_threadsafe(src.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        lt.join(5)
        guard.stop()


def test_an_edge_trips_the_relay_in_the_edge_thread_while_the_loop_is_blocked(tmp_path, sink, factory) -> None:
    def body(guard: Any, door: Any, relay: Any, threads: list[str], release: threading.Event, fast: Any) -> None:
        door.drive_low()  # pull-up input: the door switch closes to GND = active
        # MockFactory calls the edge callback in the thread that drives the pin: this one.
        assert guard.tripped and relay.state and threads == [threading.current_thread().name]
        assert not release.is_set()  # the core's loop never ran in between

    run(tmp_path, sink, factory, debounce_ms=0, body=body)


def test_debounce_in_the_guard_ignores_a_glitch_and_confirms_a_level_that_holds(tmp_path, sink, factory) -> None:
    def body(guard: Any, door: Any, relay: Any, threads: list[str], release: threading.Event, fast: Any) -> None:
        door.drive_low()
        door.drive_high()  # a glitch far shorter than 20 ms
        wait_for(lambda: not fast._edges._due, what="the glitch's deadline passed")
        assert not guard.tripped
        door.drive_low()  # holds: confirmed at its deadline by the guard's debounce thread
        wait_for(lambda: guard.tripped, what="trip after debounce")
        assert relay.state and threads == ["guard-gpio-debounce"] and not release.is_set()

    run(tmp_path, sink, factory, debounce_ms=20, body=body)
