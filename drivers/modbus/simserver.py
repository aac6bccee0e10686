"""The machine simulator's Modbus TCP server: the generic-plc map of a MachineSim.

``async with ModbusSimServer(sim, port=5020):`` serves, on every request, the
latest values of ``sim`` (the caller advances it in real time) laid out as the
``generic-plc`` profile says, so the profile and the server cannot drift apart.
Writes of the stop coil call ``sim.apply_stop``; writes of the heartbeat
register set ``sim.heartbeat``. While the ``plc_disconnect`` fault is
injected the server closes every connection and stops listening, as a PLC that
lost power would; it listens again when the fault is cleared.

Test verbs: ``await server.kill()`` / ``await server.restart()``,
``last_stop_write_ns`` (monotonic ns of the last stop-coil write, for the
end-to-end latency benchmark), ``requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.simulated import SimulatedMachine

from . import codec
from .profiles import load_profile

log = logging.getLogger(__name__)

_READ_FC = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_WRITE_FC = {5: "coil", 15: "coil", 6: "holding", 16: "holding"}


class ModbusSimServer:
    def __init__(self, sim: SimulatedMachine, *, host: str = "127.0.0.1", port: int = 5020, device_id: int = 1) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.device_id = device_id
        prof = load_profile("generic-plc")
        self.signals = list(prof.signals)
        self.stop_coil = prof.writes["stop"].address
        self.heartbeat_register = prof.writes["heartbeat"].address
        self.register_count = max(s.address + s.register_count for s in self.signals if s.table == "holding")
        self.last_stop_write_ns: int | None = None
        self.stop_writes = 0
        self.requests = 0
        self._server: ModbusTcpServer | None = None
        self._watch: asyncio.Task[None] | None = None
        self._killed = False
        self._lock = asyncio.Lock()  # start/stop from the test verbs and the fault watcher never overlap

    # ----- lifecycle and test verbs
    async def __aenter__(self) -> ModbusSimServer:
        async with self._lock:
            await self._listen()
        self._watch = asyncio.create_task(self._watch_fault(), name="modbus-simserver-fault")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        async with self._lock:
            await self._close()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def kill(self) -> None:
        """Drop every connection and stop listening (a PLC switched off)."""
        async with self._lock:
            self._killed = True
            await self._close()

    async def restart(self) -> None:
        """Listen again after ``kill`` (a PLC switched back on)."""
        async with self._lock:
            self._killed = False
            if self._server is None and self.sim.plc_connected:
                await self._listen()

    async def _listen(self) -> None:
        nbits = 16
        device = SimDevice(
            id=self.device_id,
            simdata=(
                [SimData(0, values=[False] * nbits, datatype=DataType.BITS)],
                [SimData(0, values=[False] * nbits, datatype=DataType.BITS)],
                [SimData(0, count=self.register_count, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=self.register_count, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        server = ModbusTcpServer(device, address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._server = server
        log.debug("modbus sim server listening on %s:%s", self.host, self.port)

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def _watch_fault(self) -> None:
        while True:
            try:
                async with self._lock:
                    if not self.sim.plc_connected and self._server is not None:
                        await self._close()
                    elif self.sim.plc_connected and self._server is None and not self._killed:
                        await self._listen()
            except (OSError, RuntimeError) as exc:  # port still taken: try again on the next tick
                log.warning("modbus sim server cannot listen on %s:%s: %s", self.host, self.port, exc)
            await asyncio.sleep(0.05)

    # ----- the datastore
    def holding_registers(self) -> list[int]:
        """The generic-plc holding registers for the current state of ``sim``."""
        regs = [0] * self.register_count
        values = self.sim.values()
        for sig in self.signals:
            if sig.table != "holding":
                continue
            if sig.type == "block":
                n = int(sig.length or 0)
                seq, data = self.sim.vibration_block(n)
                data = [0.0] * (n - len(data)) + list(data)
                regs[sig.address:sig.address + 2 + n] = codec.encode_block(seq, data, sig.scale, sig.word_order)
                continue
            value = values.get(sig.name)
            if value is None:
                continue
            if sig.type == "bool":
                if value:
                    regs[sig.address] |= 1 << int(sig.bit or 0)
                continue
            raw = (float(value) - sig.offset) / sig.scale
            if sig.type.startswith(("int", "uint")):
                raw = int(round(raw)) if math.isfinite(raw) else 0
            regs[sig.address:sig.address + sig.register_count] = codec.encode(raw, sig.type, sig.word_order)
        regs[self.heartbeat_register] = int(self.sim.heartbeat) & 0xFFFF
        return regs

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        self.requests += 1
        if not self.sim.plc_connected:
            if not self._lock.locked():
                async with self._lock:
                    await self._close()
            return ExcCodes.GATEWAY_NO_RESPONSE
        table = _WRITE_FC.get(function_code) if set_values is not None else _READ_FC.get(function_code)
        if set_values is not None:
            self._write(table, address, list(set_values))
            return None
        if table in ("holding", "input"):
            fresh = self.holding_registers()
            registers[: len(fresh)] = fresh
        elif table == "discrete":
            bits = [self.sim.running, self.sim.door_open] + [False] * 14
            registers[0] = sum(1 << i for i, b in enumerate(bits) if b)
        elif table == "coil":
            registers[0] = int(self.sim.stop_active) << self.stop_coil
        return None

    def _write(self, table: str | None, address: int, values: list[int] | list[bool]) -> None:
        if table == "coil" and address <= self.stop_coil < address + len(values):
            self.last_stop_write_ns = time.monotonic_ns()
            self.stop_writes += 1
            self.sim.apply_stop(bool(values[self.stop_coil - address]))
        elif table == "holding" and address <= self.heartbeat_register < address + len(values):
            self.sim.heartbeat = int(values[self.heartbeat_register - address])
