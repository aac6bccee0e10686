"""Guard fixtures: a real SQLite file, gpiozero's MockFactory pins, a real AlertSink, the simulator's servers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.alerts import AlertSink
from appliance.guard import Guard, build_outputs
from appliance.guard.config import GuardConfig
from drivers.modbus.simserver import ModbusSimServer
from drivers.opcua.simserver import OpcuaSimServer
from drivers.samples import Sample
from models.training.machine import MachineSim

from ..conftest import free_port


def wait_for(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``cond`` until truthy (threads hand results over asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


@pytest.fixture
def sink() -> AlertSink:
    return AlertSink()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "werkvloer.db"


@pytest.fixture
def make_guard(factory: MockFactory, sink: AlertSink, db_path: Path) -> Iterator[Callable[..., Guard]]:
    """Build and start a guard from a config dict; stopped at teardown."""
    made: list[Guard] = []

    def make(cfg: dict[str, Any] | GuardConfig, *, outputs: list[Any] | None = None, ready: bool = True,
             **kw: Any) -> Guard:
        """``ready``: wait until every stop output answered (start() itself never waits for a device)."""
        gcfg = cfg if isinstance(cfg, GuardConfig) else GuardConfig.model_validate(cfg)
        outs = build_outputs(gcfg, gpio_factory=factory) if outputs is None else outputs
        g = Guard(gcfg, outputs=outs, alert_sink=sink, db_path=db_path, gpio_factory=factory, **kw)
        g.start()
        made.append(g)
        if ready:
            assert g.wait_outputs(20), f"stop outputs not ready: {g.status()['outputs']}"
        return g

    yield make
    for g in made:
        g.stop()


def alerts(sink: AlertSink) -> list[dict[str, Any]]:
    return sink.drain()


def collect(sink: AlertSink, pred: Callable[[dict[str, Any]], bool], what: str = "alert") -> list[dict[str, Any]]:
    """Every alert drained until one matches ``pred``: the tripping thread
    submits its alerts just after the outputs fired and the state changed."""
    got: list[dict[str, Any]] = []

    def seen() -> bool:
        got.extend(sink.drain())
        return any(pred(a) for a in got)

    wait_for(seen, what=what)
    return got


def value(signal: str, v: Any, mono_ns: int | None = None, **kw: Any) -> Sample:
    return Sample(signal, v, mono_ns=mono_ns if mono_ns is not None else time.monotonic_ns(), **kw)


class SimPeers:
    """MachineSim + Modbus + OPC UA simulator servers in a background loop thread."""

    def __init__(self) -> None:
        self.sim = MachineSim(seed=1)
        self.modbus_port, self.opcua_port = free_port(), free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-peers", daemon=True)
        self.modbus: ModbusSimServer | None = None
        self.opcua: OpcuaSimServer | None = None

    def call(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.modbus = ModbusSimServer(self.sim, port=self.modbus_port)
        self.opcua = OpcuaSimServer(self.sim, port=self.opcua_port)
        self.call(self.modbus.__aenter__())
        self.call(self.opcua.__aenter__())

    def stop(self) -> None:
        for server in (self.opcua, self.modbus):
            if server is not None:
                self.call(server.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def peers() -> Iterator[SimPeers]:
    p = SimPeers()
    p.start()
    yield p
    p.stop()
