"""Issue 16: outages and bad values that last. The retry delay after thousands
of failed connects stays bounded (it used to overflow after ~1,025 failures,
8.5 h into an outage at the default 30 s cap, and the poller then restarted
with a traceback every second); a flapping signal does not flood the log."""

from __future__ import annotations

import logging

import pytest
from pymodbus.simulator import DataType, SimData

from drivers.backoff import Backoff
from drivers.complaints import Complaints
from drivers.modbus import ModbusSource, codec
from drivers.modbus.config import ModbusDevice
from drivers.samples import Quality

from .conftest import Collector, TkServer, pymodbus_server, wait_until


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


async def test_signal_flapping_between_nan_and_good_logs_two_lines(collector: Collector, tk_server: TkServer,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Issue 16: 212 lines in 110 s from one flapping signal. Now: one WARNING and
    one INFO per 10 minutes however often it flaps; every sample keeps its quality."""
    caplog.set_level(logging.DEBUG, logger="drivers.modbus")
    dev = ModbusDevice.model_validate({"name": "plc", "port": tk_server.port, "poll_interval_ms": 10,
                                       "signals": [{"name": "temp", "address": 0, "type": "float32"}]})
    async with ModbusSource(dev, collector.bus):
        await collector.wait_value("temp", lambda s: s.good)  # the server thread may start listening late
        caplog.clear()
        for i in range(20):
            tk_server.set("hr", 0, codec.encode(float("nan"), "float32"))
            await collector.wait_value("temp", lambda s: s.quality is Quality.BAD)
            tk_server.set("hr", 0, codec.encode(20.0 + i, "float32"))
            await collector.wait_value("temp", lambda s, v=20.0 + i: s.good and s.value == v)
    records = [r for r in caplog.records if r.name.startswith("drivers.modbus")]
    loud = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    assert loud == ["modbus plc: signal temp is bad: value is nan", "modbus plc: signal temp is good again"]
    assert sum("is bad again" in r.getMessage() for r in records) == 19  # the rest at DEBUG


def test_a_new_report_after_the_quiet_time_counts_the_spells_in_between() -> None:
    now = [0.0]
    log = logging.getLogger("test.complaints")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        c = Complaints(log, "dev", quiet_s=600, clock=lambda: now[0])
        for t in (0, 10, 20, 700):
            now[0] = t
            c.bad("x", "value is nan")
            c.bad("x", "value is inf")  # same spell: not logged again
            c.good("x")
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        "dev: signal x is bad: value is nan", "dev: signal x is good again",
        "dev: signal x is bad: value is nan (2 more bad spells since the last report)",
        "dev: signal x is good again"]


async def test_garbage_and_overflowing_values_are_bad_on_the_bus(collector: Collector, tk_server: TkServer) -> None:
    """Issue 16: random bits read as float32 (3.4e38) were good; a value that
    becomes inf after scaling was good on the bus but bad in the database."""
    tk_server.set("hr", 0, codec.encode(3.4e38, "float32") + codec.encode(3.0e38, "float32")
                  + codec.encode(21.5, "float32"))
    dev = ModbusDevice.model_validate({"name": "plc", "port": tk_server.port, "poll_interval_ms": 20, "signals": [
        {"name": "garbage", "address": 0, "type": "float32"},
        {"name": "scaled_inf", "address": 2, "type": "float32", "scale": 1e300},
        {"name": "temp", "address": 4, "type": "float32"}]})
    async with ModbusSource(dev, collector.bus):
        await collector.wait_value("temp", lambda s: s.good)
        garbage = await collector.wait_value("garbage", lambda s: True)
        scaled = await collector.wait_value("scaled_inf", lambda s: True)
    assert garbage.quality is Quality.BAD
    assert scaled.quality is Quality.BAD and scaled.value is None  # the same answer the database gives


async def test_a_value_beyond_its_units_range_is_bad_with_one_log_line(collector: Collector, tk_server: TkServer,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Issue 16: plausible ranges per unit. 1.5e9 degC is below the global ±1e15 bound but cannot be a
    temperature; -32768 x 0.1 degC is a sensor's fault code; the signal's own max_value replaces the
    unit's upper bound; a unit without a range keeps the global bound only."""
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    f32 = lambda v: codec.encode(v, "float32")  # noqa: E731
    tk_server.set("hr", 0, f32(3.4e38) + f32(1.5e9) + codec.encode(-32768, "int16") + f32(2500.0) + f32(21.5)
                  + f32(1.5e9))
    degc = {"type": "float32", "unit": "degC"}
    dev = ModbusDevice.model_validate({"name": "plc", "port": tk_server.port, "poll_interval_ms": 20, "signals": [
        {"name": "garbage", "address": 0, **degc},
        {"name": "too_hot", "address": 2, **degc},
        {"name": "fault_code", "address": 4, "type": "int16", "scale": 0.1, "unit": "degC"},
        {"name": "furnace", "address": 5, **degc, "max_value": 3000},
        {"name": "temp", "address": 7, **degc},
        {"name": "parts", "address": 9, "type": "float32", "unit": "pieces"}]})
    async with ModbusSource(dev, collector.bus):
        await wait_until(lambda: len(collector.of("temp")) >= 20, 20, "20 polls")
    quality = {name: {s.quality for s in collector.of(name)} for name in
               ("garbage", "too_hot", "fault_code", "furnace", "temp", "parts")}
    assert quality == {"garbage": {Quality.BAD}, "too_hot": {Quality.BAD}, "fault_code": {Quality.BAD},
                       "furnace": {Quality.GOOD}, "temp": {Quality.GOOD}, "parts": {Quality.GOOD}}
    assert collector.last("too_hot").value == 1.5e9  # type: ignore[union-attr]  # kept, with its quality
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [  # one line per bad signal over 20 polls, in words that say what to check
        "modbus plc: signal garbage is bad: value 3.4e+38 is implausible for degC (outside -273.15..2000); "
        "check type, word order and scale, or set the signal's min_value/max_value",
        "modbus plc: signal too_hot is bad: value 1.5e+09 is implausible for degC (outside -273.15..2000); "
        "check type, word order and scale, or set the signal's min_value/max_value",
        "modbus plc: signal fault_code is bad: value -3276.8 is implausible for degC (outside -273.15..2000); "
        "check type, word order and scale, or set the signal's min_value/max_value"]


def test_a_float64_at_the_last_address_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="last Modbus address is 65535: use an address <= 65532"):
        ModbusDevice.model_validate({"name": "plc", "signals": [{"name": "x", "address": 65535, "type": "float64"}]})
    ModbusDevice.model_validate({"name": "plc", "signals": [{"name": "x", "address": 65532, "type": "float64"}]})
