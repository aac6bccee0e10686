"""Issue 16: the retry delay after thousands of failed connects stays bounded
(it used to overflow after ~1,025 failures, 8.5 h into an outage at the default
30 s cap, and the poller then restarted with a traceback every second)."""

from __future__ import annotations

import logging

import pytest
from pymodbus.simulator import DataType, SimData

from drivers.backoff import Backoff
from drivers.modbus import ModbusSource
from drivers.modbus.config import ModbusDevice

from .conftest import Collector, pymodbus_server, wait_until


def test_eight_hours_of_failures_at_the_default_cap_stay_bounded() -> None:
    clock = 0.0  # injected clock: the sum of the delays the source would wait
    draws = iter([0.0, 0.999999] * 1500)
    b = Backoff(1.0, 30.0, jitter=0.2, rng=lambda: next(draws))
    delays = []
    for _ in range(2000):
        d = b.failed()
        clock += d
        delays.append(d)
    assert delays[:3] == [1.0, pytest.approx(2 * 0.8, rel=1e-5), 4.0]
    assert max(delays) == 30.0 and min(delays[10:]) >= 24.0  # jitter only shortens, never beyond max
    assert clock > 12 * 3600  # past the 8.5 h where the old formula overflowed
    b.reset()
    assert b.failed() == 1.0


def test_backoff_refuses_settings_without_a_bound() -> None:
    with pytest.raises(ValueError, match="min_s"):
        Backoff(0, 1)
    with pytest.raises(ValueError, match="min_s"):
        Backoff(2, 1)


async def test_2000_failed_connects_do_not_restart_the_poller(collector: Collector, port: int,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    dev = ModbusDevice.model_validate({
        "name": "plc", "port": port, "timeout_s": 0.3, "poll_interval_ms": 20,
        "backoff_min_s": 0.0001, "backoff_max_s": 0.0005, "signals": [{"name": "counter", "address": 3}]})
    async with ModbusSource(dev, collector.bus) as src:
        link = src._link
        assert link is not None
        await wait_until(lambda: link.connect_failures >= 2000, 120, "2,000 refused connects")
        assert link.connect_backoff.peek() == 0.0005
        simdata = ([SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   [SimData(0, values=[42] * 10, datatype=DataType.REGISTERS)],
                   [SimData(0, values=0, datatype=DataType.REGISTERS)])
        async with pymodbus_server(port, simdata):
            await collector.wait_value("counter", lambda s: s.good and s.value == 42)
        assert link.connect_failures == 0
    records = [r for r in caplog.records if r.name.startswith("drivers.modbus")]
    assert not [r for r in records if "poller failed" in r.getMessage()]
    assert not [r for r in records if r.exc_info]
    # one ERROR when lost, one INFO when back: two lines for a 2,000-retry outage
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in records if r.levelno >= logging.INFO] == [
        (logging.ERROR, "modbus plc (127.0.0.1"), (logging.INFO, "modbus plc")]
