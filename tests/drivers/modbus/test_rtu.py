"""Modbus RTU across a socat pty pair (a null-modem cable; Linux ptys refuse parity, hence "N"), with modbus-tk's RTU
server answering for unit 1 only: unit 2 on the same line is dead."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import serial

from drivers.modbus import ModbusSource, codec
from drivers.modbus.config import ModbusDevice
from drivers.samples import Quality

from .conftest import Collector, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:isSet:DeprecationWarning")  # inside modbus-tk


@pytest.fixture
def rtu_unit1(pty_pair: tuple[str, str]) -> Iterator[tuple[str, object]]:
    """modbus-tk RTU server on one end of the pair, answering for unit 1 only."""
    import modbus_tk.defines as cst
    from modbus_tk import modbus_rtu

    port = serial.Serial(pty_pair[1], baudrate=19200, parity="N", stopbits=1, bytesize=8)
    server = modbus_rtu.RtuServer(port, error_on_missing_slave=False)  # unknown unit ids: silence, as on RS-485
    slave = server.add_slave(1)
    slave.add_block("hr", cst.HOLDING_REGISTERS, 0, 20)
    slave.set_values("hr", 0, [42] + codec.encode(-3.5, "float32", "CDAB"))
    server.start()
    try:
        yield pty_pair[0], slave
    finally:
        server.stop()
        port.close()


def rtu_device(name: str, line: str, unit: int) -> ModbusDevice:
    return ModbusDevice.model_validate({
        "name": name, "transport": "rtu", "serial_port": line, "unit_id": unit, "timeout_s": 0.3, "parity": "N",
        "poll_interval_ms": 20, "backoff_min_s": 0.2, "backoff_max_s": 0.4,
        "signals": [{"name": f"{name}_count", "address": 0},
                    {"name": f"{name}_temp", "address": 1, "type": "float32", "word_order": "CDAB"}],
    })


async def test_dead_unit_does_not_stall_the_live_one(rtu_unit1: tuple[str, object], collector: Collector,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    line, slave = rtu_unit1
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    live, dead = ModbusSource(rtu_device("press", line, 1), collector.bus), ModbusSource(rtu_device("oven", line, 2), collector.bus)
    async with live, dead:
        await wait_until(lambda: live.polls >= 60, 20, "60 polls of the live unit")
        # The dead unit is probed only after each backoff: it cost a handful of
        # timeouts while the live unit was polled at its own rate.
        assert dead.timeouts >= 2
        assert dead.timeouts * 5 < live.polls
        assert live.health.available and not dead.health.available
        assert live._link is dead._link  # one line poller for both units
        assert collector.last("press_count").value == 42  # type: ignore[union-attr]
        assert collector.last("press_temp").value == -3.5  # type: ignore[union-attr]
        assert {s.quality for s in collector.of("oven_count")} == {Quality.BAD}
        slave.set_values("hr", 0, [43])  # type: ignore[attr-defined]
        await collector.wait_value("press_count", lambda s: s.value == 43)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert sum("modbus oven" in m for m in errors) == 1  # once, however many probes


async def test_unit_that_comes_back_is_polled_again(pty_pair: tuple[str, str], collector: Collector) -> None:
    import modbus_tk.defines as cst
    from modbus_tk import modbus_rtu

    port = serial.Serial(pty_pair[1], baudrate=19200, parity="N")
    server = modbus_rtu.RtuServer(port, error_on_missing_slave=False)
    server.add_slave(1).add_block("hr", cst.HOLDING_REGISTERS, 0, 10)
    server.start()
    try:
        a, b = ModbusSource(rtu_device("a", pty_pair[0], 1), collector.bus), ModbusSource(rtu_device("b", pty_pair[0], 2), collector.bus)
        async with a, b:
            await wait_until(lambda: b.timeouts >= 2 and a.polls >= 10, 20, "unit 2 missing")
            unit2 = server.add_slave(2)  # unit 2 is switched on
            unit2.add_block("hr", cst.HOLDING_REGISTERS, 0, 10)
            unit2.set_values("hr", 0, [7])
            await collector.wait_value("b_count", lambda s: s.good and s.value == 7, timeout=20)
            assert b.health.available and a.health.available
    finally:
        server.stop()
        port.close()
