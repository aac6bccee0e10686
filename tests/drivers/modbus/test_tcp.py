"""ModbusSource over TCP against real servers on loopback: pymodbus's own and
modbus-tk's (an independent implementation)."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData

from drivers.modbus import ModbusSource, codec
from drivers.modbus.config import ModbusDevice
from drivers.samples import Quality

from .conftest import Collector, TkServer, pymodbus_server, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:isSet:DeprecationWarning")  # inside modbus-tk

ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]
NUMBERS = {
    "int16": -1234, "uint16": 54321, "int32": -123456789, "uint32": 3_000_000_000,
    "int64": -(2**40) - 5, "uint64": 2**63 + 7, "float32": -12.5, "float64": 1234.5678901,
}


def type_table() -> tuple[list[dict], list[int], dict[str, object]]:
    """Signals of every type in every order, the holding registers that hold
    them, and the values expected on the bus."""
    signals: list[dict] = []
    regs = [0] * 120
    expect: dict[str, object] = {}
    addr = 0
    for type_, value in NUMBERS.items():
        for order in ORDERS:
            name = f"{type_}_{order.lower()}"
            enc = codec.encode(value, type_, order)
            regs[addr:addr + len(enc)] = enc
            signals.append({"name": name, "address": addr, "type": type_, "word_order": order})
            expect[name] = value
            addr += len(enc)
    regs[addr:addr + 4] = codec.encode_string("WV-42", 4)
    signals.append({"name": "label", "address": addr, "type": "string", "length": 4})
    expect["label"] = "WV-42"
    addr += 4
    regs[addr] = 0b1000
    signals += [{"name": "bit3", "address": addr, "type": "bool", "bit": 3},
                {"name": "bit2", "address": addr, "type": "bool", "bit": 2}]
    expect |= {"bit3": True, "bit2": False}
    addr += 1
    regs[addr] = 250
    signals.append({"name": "scaled", "address": addr, "type": "uint16", "scale": 0.1, "offset": -5, "unit": "degC"})
    expect["scaled"] = 20.0
    signals += [{"name": "coil1", "table": "coil", "address": 1, "type": "bool"},
                {"name": "input1", "table": "discrete", "address": 1, "type": "bool"}]
    expect |= {"coil1": True, "input1": True}
    assert addr < 120
    return signals, regs, expect


def make_device(port: int, signals: list[dict], **kw: object) -> ModbusDevice:
    cfg = {"name": "plc", "port": port, "timeout_s": 0.3, "poll_interval_ms": 20, "backoff_min_s": 0.05,
           "backoff_max_s": 0.2, "signals": signals} | kw
    return ModbusDevice.model_validate(cfg)


async def check_types(collector: Collector, port: int, signals: list[dict], expect: dict[str, object]) -> None:
    async with ModbusSource(make_device(port, signals), collector.bus) as src:
        def all_good() -> bool:
            latest = collector.bus.latest()
            return all(n in latest and latest[n].good for n in expect)

        await wait_until(all_good, 10, "every signal, good")
        assert src.health.available and src.health.state == "ok"
    latest = collector.bus.latest()
    for name, value in expect.items():
        s = latest[name]
        assert s.quality is Quality.GOOD, name
        assert s.mono_ns > 0 and s.utc_ns > 1_600_000_000 * 10**9
        if isinstance(value, float):
            assert math.isclose(float(s.value), value, rel_tol=1e-12), (name, s.value)  # type: ignore[arg-type]
        else:
            assert s.value == value and type(s.value) is type(value), (name, s.value)


async def test_every_type_and_order_pymodbus_server(collector: Collector, port: int) -> None:
    signals, regs, expect = type_table()
    bits = [False, True] + [False] * 14
    simdata = ([SimData(0, values=bits, datatype=DataType.BITS)], [SimData(0, values=bits, datatype=DataType.BITS)],
               [SimData(0, values=regs, datatype=DataType.REGISTERS)], [SimData(0, values=0, datatype=DataType.REGISTERS)])
    async with pymodbus_server(port, simdata):
        await check_types(collector, port, signals, expect)


async def test_every_type_and_order_modbus_tk(collector: Collector, tk_server: TkServer) -> None:
    signals, regs, expect = type_table()
    tk_server.set("hr", 0, regs)
    tk_server.set("co", 1, [1])
    tk_server.set("di", 1, [1])
    await check_types(collector, tk_server.port, signals, expect)


async def test_pymodbus_encoder_agrees_on_big_endian(collector: Collector, port: int) -> None:
    """pymodbus's datastore encodes ABCD values itself: our decoder must read them."""
    values = {"int32": -7, "uint32": 4_000_000_000, "float32": 3.25, "float64": -2.5e-3, "int64": -(2**50)}
    simdata_types = {"int32": DataType.INT32, "uint32": DataType.UINT32, "float32": DataType.FLOAT32,
                     "float64": DataType.FLOAT64, "int64": DataType.INT64}
    hr, signals, addr = [], [], 0
    for t, v in values.items():
        hr.append(SimData(addr, values=v, datatype=simdata_types[t]))
        signals.append({"name": t, "address": addr, "type": t})
        addr += 4
    simdata = ([SimData(0, values=[False] * 16, datatype=DataType.BITS)], [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
               hr, [SimData(0, values=0, datatype=DataType.REGISTERS)])
    async with pymodbus_server(port, simdata):
        async with ModbusSource(make_device(port, signals, max_gap=4), collector.bus):
            await wait_until(lambda: all(collector.last(k) and collector.last(k).good for k in values), 10, "values")
    assert {k: collector.bus.latest()[k].value for k in values} == values


async def test_illegal_address_marks_only_its_signals_bad(collector: Collector, tk_server: TkServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    tk_server.set("hr", 116, [11, 12, 13, 14])
    signals = [{"name": "ok_118", "address": 118}, {"name": "missing_121", "address": 121},
               {"name": "far_away", "address": 500}, {"name": "ok_116", "address": 116}]
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    async with ModbusSource(make_device(tk_server.port, signals), collector.bus) as src:
        # 116..121 was one read; modbus-tk refuses it (121 is outside its block), so
        # the source reads the signals one by one from then on.
        await wait_until(lambda: len(collector.of("ok_118")) >= 3 and len(collector.of("far_away")) >= 1, 10, "reads")
        await wait_until(lambda: src.polls >= 30, 10, "30 polls")
        assert src.health.available  # the device answers: it is reachable
    assert collector.last("ok_118").value == 13 and collector.last("ok_118").good  # type: ignore[union-attr]
    assert collector.last("ok_116").value == 11
    for name in ("missing_121", "far_away"):
        bad = collector.of(name)
        assert bad and all(s.quality is Quality.BAD and s.value is None for s in bad)
        assert len(bad) == 1  # bad once, not once per poll
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("illegal data address" in r.getMessage() for r in warnings) == 2  # one per refused read
    assert sum("one by one" in r.getMessage() for r in warnings) == 1


async def test_device_busy_is_bad_quality_and_logged_once(collector: Collector, port: int,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    busy = {"on": True}

    async def action(fc: int, start: int, address: int, count: int, regs: list[int], values: object) -> ExcCodes | None:
        return ExcCodes.DEVICE_BUSY if busy["on"] and address == 10 else None

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import SimDevice

    server = ModbusTcpServer(SimDevice(id=1, simdata=[SimData(0, values=list(range(20)), datatype=DataType.REGISTERS)],
                                       action=action), address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    try:
        signals = [{"name": "a", "address": 0}, {"name": "b", "address": 10, "poll_interval_ms": 10}]
        async with ModbusSource(make_device(port, signals, max_gap=0), collector.bus) as src:
            await wait_until(lambda: src.polls >= 20, 10, "polls")
            assert [s.quality for s in collector.of("b")] == [Quality.BAD]
            assert collector.last("a").good  # type: ignore[union-attr]
            busy["on"] = False
            await collector.wait_value("b", lambda s: s.good and s.value == 10)
    finally:
        await server.shutdown()
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("device busy" in m for m in msgs) == 1
    assert sum("reads again" in m for m in msgs) == 1


async def test_nan_inf_and_out_of_range_are_bad(collector: Collector, tk_server: TkServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    tk_server.set("hr", 0, codec.encode(float("nan"), "float32") + codec.encode(float("inf"), "float32")
                  + codec.encode(250.0, "float32"))
    signals = [{"name": "temp_nan", "address": 0, "type": "float32"},
               {"name": "temp_inf", "address": 2, "type": "float32"},
               {"name": "temp_range", "address": 4, "type": "float32", "min_value": -40, "max_value": 200}]
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    async with ModbusSource(make_device(tk_server.port, signals), collector.bus) as src:
        await wait_until(lambda: src.polls >= 10, 10, "polls")
        assert collector.last("temp_nan").quality is Quality.BAD and collector.last("temp_nan").value is None  # type: ignore[union-attr]
        assert collector.last("temp_inf").quality is Quality.BAD  # type: ignore[union-attr]
        rng = collector.last("temp_range")
        assert rng is not None and rng.quality is Quality.BAD and rng.value == 250.0  # kept for diagnosis
        tk_server.set("hr", 4, codec.encode(21.5, "float32"))
        await collector.wait_value("temp_range", lambda s: s.good and s.value == 21.5)
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("drivers.modbus")]
    assert sum("temp_nan is bad" in m for m in msgs) == 1
    assert sum("temp_range is bad" in m for m in msgs) == 1
    assert sum("temp_range is good again" in m for m in msgs) == 1


async def test_block_that_is_not_refilled_goes_stale(collector: Collector, tk_server: TkServer) -> None:
    tk_server.set("hr", 0, codec.encode_block(1000, [0.5, -0.5, 0.5, -0.5], 0.001))
    signals = [{"name": "vibration", "address": 0, "type": "block", "length": 4, "scale": 0.001}]
    async with ModbusSource(make_device(tk_server.port, signals), collector.bus):
        first = await collector.wait_value("vibration", lambda s: s.good)
        assert first.seq == 1000 and first.block.tolist() == [0.5, -0.5, 0.5, -0.5]
        assert math.isclose(float(first.value), 0.5, rel_tol=1e-6)  # type: ignore[arg-type]
        stale = await collector.wait_value("vibration", lambda s: s.quality is Quality.STALE)
        assert stale.value == first.value
        tk_server.set("hr", 0, codec.encode_block(1004, [1.0, 1.0, 1.0, 1.0], 0.001))
        fresh = await collector.wait_value("vibration", lambda s: s.good)
        assert fresh.seq == 1004 and fresh.value == 1.0
    assert [s.seq for s in collector.of("vibration") if s.good] == [1000, 1004]  # duplicates are not published


async def test_server_killed_and_restarted_mid_poll(collector: Collector, port: int,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def simdata(value: int) -> tuple:
        return ([SimData(0, values=[False] * 16, datatype=DataType.BITS)], [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[value] * 10, datatype=DataType.REGISTERS)], [SimData(0, values=0, datatype=DataType.REGISTERS)])

    caplog.set_level(logging.INFO, logger="drivers.modbus")
    signals = [{"name": "counter", "address": 3}]
    async with ModbusSource(make_device(port, signals, poll_interval_ms=10), collector.bus) as src:
        for value in (7, 8, 9):
            async with pymodbus_server(port, simdata(value)):
                await collector.wait_value("counter", lambda s, v=value: s.good and s.value == v)
                assert src.health.available
                await wait_until(lambda c=src.polls: src.polls > c + 5, 10, "polls go on")
            await wait_until(lambda: not src.health.available, 10, "loss detected")
            assert src.health.state == "unavailable" and src.health.last_error
            assert collector.last("counter").quality is Quality.BAD  # type: ignore[union-attr]
            # keep it down across a few retries: one ERROR, however many retries
            await wait_until(lambda n=src.timeouts: src.timeouts >= n + 3, 10, "retries")
    records = [r for r in caplog.records if r.name == "drivers.modbus.source"]
    # once per outage: the first server starts after the source, then three kills
    assert sum(r.levelno == logging.ERROR for r in records) == 4
    assert sum(r.levelno == logging.INFO and "answering again" in r.getMessage() for r in records) == 3


async def test_unreachable_from_the_start_never_crashes(collector: Collector, port: int,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="drivers.modbus")
    async with ModbusSource(make_device(port, [{"name": "x", "address": 0}]), collector.bus) as src:
        await wait_until(lambda: src.timeouts >= 4, 10, "retries")
        assert not src.health.available
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1
    assert [s.quality for s in collector.of("x")] == [Quality.BAD]
    assert src.health.state == "stopped"


async def test_stopping_closes_the_connection(collector: Collector, tk_server: TkServer) -> None:
    src = ModbusSource(make_device(tk_server.port, [{"name": "x", "address": 0}]), collector.bus)
    async with src:
        await wait_until(lambda: src.polls >= 3, 10, "polls")
    n = len(collector.samples)
    await asyncio.sleep(0.1)  # nothing may arrive after the source stopped
    assert len(collector.samples) == n
