"""Guard fixtures: a real SQLite file, gpiozero's MockFactory pins, a real AlertSink."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.alerts import AlertSink
from appliance.guard import Guard, build_outputs
from appliance.guard.config import GuardConfig
from appliance.samples import Sample


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

    def make(cfg: dict[str, Any] | GuardConfig, *, outputs: list[Any] | None = None, **kw: Any) -> Guard:
        gcfg = cfg if isinstance(cfg, GuardConfig) else GuardConfig.model_validate(cfg)
        outs = build_outputs(gcfg, gpio_factory=factory) if outputs is None else outputs
        g = Guard(gcfg, outputs=outs, alert_sink=sink, db_path=db_path, gpio_factory=factory, **kw)
        g.start()
        made.append(g)
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
