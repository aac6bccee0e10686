"""The simulator's Modbus server read by ModbusSource (generic-plc profile), and
the guard's stop output writing to it on its own connection."""

from __future__ import annotations

import asyncio
import logging
import math

import numpy as np
import pytest

from appliance.errors import DeviceError
from drivers.modbus import ModbusSimServer, ModbusSource, ModbusStopOutput
from drivers.modbus.config import ModbusDevice, ModbusOutputConfig
from drivers.samples import Quality
from models.training.machine import MachineSim, MachineState
from tests.conftest import free_port

from .conftest import Collector, wait_until


def plc(port: int) -> ModbusDevice:
    return ModbusDevice.model_validate({"name": "cnc", "profile": "generic-plc", "port": port, "timeout_s": 0.3,
                                        "backoff_min_s": 0.05, "backoff_max_s": 0.2})


def output(port: int, **kw: object) -> ModbusStopOutput:
    cfg = {"name": "stop_coil", "kind": "modbus", "host": "127.0.0.1", "port": port, "address": 0,
           "timeout_ms": 1000} | kw
    return ModbusStopOutput(ModbusOutputConfig.model_validate(cfg))


async def test_source_reads_what_the_sim_computes(collector: Collector, port: int) -> None:
    sim = MachineSim(seed=3)
    sim.advance(30.0)
    async with ModbusSimServer(sim, port=port), ModbusSource(plc(port), collector.bus):
        await wait_until(lambda: len(collector.bus.latest()) == 13, 10, "all generic-plc signals")
        await wait_until(lambda: len(collector.of("vibration")) >= 1, 10, "a vibration block")
        expected = sim.values()
        latest = collector.bus.latest()
    for name, value in expected.items():
        s = latest[name]
        assert s.quality is Quality.GOOD, name
        if isinstance(value, float):
            assert math.isclose(float(s.value), value, rel_tol=1e-6, abs_tol=1e-6), (name, s.value, value)  # type: ignore[arg-type]
        else:
            assert s.value == value, name
    vib = collector.last("vibration")
    assert vib is not None and vib.block.dtype == np.float32 and vib.block.shape == (100,)
    seq, data = sim.vibration_block(100)
    assert vib.seq == seq
    assert np.allclose(vib.block, data, atol=0.0006)  # int16 at 1/1000 m/s2
    assert math.isclose(float(vib.value), float(np.sqrt(np.mean(np.square(vib.block)))), rel_tol=1e-6)  # type: ignore[arg-type]


async def test_values_follow_the_running_sim_and_faults(collector: Collector, port: int) -> None:
    sim = MachineSim(seed=4)
    async with ModbusSimServer(sim, port=port), ModbusSource(plc(port), collector.bus) as src:
        sim.advance(13.0)  # a part completes every 12 s
        await collector.wait_value("part_count", lambda s: s.value == 1)
        seqs = []
        for _ in range(3):  # the vibration block moves on with the sim
            sim.advance(0.05)
            seqs.append((await collector.wait_value("vibration", lambda s: s.good)).seq)
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        sim.inject("sensor_dropout")  # temperature reads NaN
        await collector.wait_value("temperature", lambda s: s.quality is Quality.BAD)
        sim.inject("plc_disconnect")
        await wait_until(lambda: not src.health.available, 10, "PLC gone")
        sim.clear()
        await wait_until(lambda: src.health.available, 10, "PLC back")
        await collector.wait_value("temperature", lambda s: s.good)


async def test_stop_output_fires_and_releases(port: int) -> None:
    sim = MachineSim(seed=5)
    sim.advance(2.0)
    assert sim.state is MachineState.RUNNING
    async with ModbusSimServer(sim, port=port) as server:
        out = output(port)
        await asyncio.to_thread(out.open)
        try:
            await asyncio.to_thread(out.fire)
            assert sim.stop_active and sim.state is MachineState.DOWN
            assert server.last_stop_write_ns is not None and server.stop_writes == 1
            await asyncio.to_thread(out.release)
            assert not sim.stop_active and sim.state is MachineState.RUNNING
            assert server.stop_writes == 2
        finally:
            out.close()


async def test_heartbeat_toggles_the_register(port: int) -> None:
    sim = MachineSim()
    async with ModbusSimServer(sim, port=port) as server:
        hb = output(port, name="heartbeat", table="holding", address=server.heartbeat_register)
        await asyncio.to_thread(hb.open)
        try:
            seen = []
            for _ in range(4):
                value = await asyncio.to_thread(hb.toggle_heartbeat)
                seen.append((value, sim.heartbeat))
            assert seen == [(1, 1), (0, 0), (1, 1), (0, 0)]
            assert server.stop_writes == 0
        finally:
            hb.close()


async def test_register_output_writes_its_value(port: int) -> None:
    sim = MachineSim()
    async with ModbusSimServer(sim, port=port) as server:
        out = output(port, table="holding", address=server.heartbeat_register, value=7)
        with pytest.raises(DeviceError, match="not connected"):
            await asyncio.to_thread(out.fire)  # the stop path never connects: open() (the guard's bank) does
        await asyncio.to_thread(out.open)
        await asyncio.to_thread(out.fire)
        assert sim.heartbeat == 7
        await asyncio.to_thread(out.release)
        assert sim.heartbeat == 0
        out.close()


async def test_stop_output_raises_then_reconnects(port: int, caplog: pytest.LogCaptureFixture) -> None:
    sim = MachineSim()
    caplog.set_level(logging.INFO, logger="drivers.modbus")
    async with ModbusSimServer(sim, port=port) as server:
        out = output(port, timeout_ms=200)
        await asyncio.to_thread(out.open)
        # One round trip first: a connection still in the server's accept path
        # when it is killed would otherwise be taken over by a late accept task
        # and keep answering (an asyncio/pymodbus race in the simulator, not a PLC).
        await asyncio.to_thread(out.release)
        await server.kill()
        for _ in range(2):
            with pytest.raises(DeviceError, match="stop_coil"):
                await asyncio.to_thread(out.fire)
        assert not sim.stop_active
        assert not out.connected  # the broken connection was dropped
        await server.restart()
        await asyncio.to_thread(out.open)  # the guard's output bank reconnects off the stop path
        assert await asyncio.to_thread(out.check) is False  # keep-alive read: the coil is not in stop
        await asyncio.to_thread(out.fire)
        assert sim.stop_active and await asyncio.to_thread(out.check) is True
        out.close()
    # The guard's output bank logs the outage once and the recovery once (and raises the alerts);
    # the output itself stays quiet, or each outage would be two ERROR lines.
    msgs = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "drivers.modbus.output" and r.levelno >= logging.INFO]
    assert msgs == []


async def test_stop_output_to_nobody_raises_device_error(port: int) -> None:
    out = output(port, timeout_ms=200)
    with pytest.raises(DeviceError, match="cannot connect"):
        await asyncio.to_thread(out.open)


def test_stop_output_client_refuses_a_self_connection(port: int) -> None:
    """Connecting from port P to port P on loopback with no listener is a TCP
    self-connection (what the kernel may do by chance in the ephemeral range).
    pymodbus would take the echoed write-coil request as its acknowledgement."""
    from pymodbus.client import ModbusTcpClient

    from drivers.modbus.output import _TcpClient

    plain = ModbusTcpClient("127.0.0.1", port=port, source_address=("127.0.0.1", port), timeout=0.5, retries=0)
    try:
        assert plain.connect()
        assert not plain.write_coil(0, True, device_id=1).isError()  # the echo passes for an acknowledgement
    finally:
        plain.close()
    other = free_port()  # port is in TIME_WAIT now
    ours = _TcpClient("127.0.0.1", port=other, source_address=("127.0.0.1", other), timeout=0.5, retries=0)
    assert not ours.connect() and ours.self_connected and ours.socket is None
