"""One Modbus connection and the serial lines shared between devices.

A *link* is one connection: a TCP socket to one device, or one serial port
(RS-485 line) shared by every unit on it. :class:`SerialLines` finds the shared
link of a port; the source that builds the devices passes one in, otherwise
each event loop has its own (a port opens once per loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from drivers.backoff import Backoff

from .config import ModbusDevice
from .plan import Read

if TYPE_CHECKING:
    from .device import DeviceState

# The source's log name, kept from before the split so log filters stay valid.
log = logging.getLogger("drivers.modbus.source")

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "device failure", 5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target did not respond",
}


_READ_METHOD = {"holding": "read_holding_registers", "input": "read_input_registers", "coil": "read_coils",
                "discrete": "read_discrete_inputs"}


class DeviceAnswered(Exception):
    """The device answered with a Modbus exception (it is reachable)."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")


class NoAnswer(Exception):
    """Timeout, lost connection or garbled answer: the device is not reachable."""


def where(cfg: ModbusDevice) -> str:
    """The device's address as a person reads it in a log line."""
    return f"{cfg.serial_port} @{cfg.baudrate}" if cfg.transport == "rtu" else f"{cfg.host}:{cfg.port}"


class Link:
    """One connection (TCP socket or serial line) and the devices polled over it."""

    def __init__(self, key: str, first: ModbusDevice) -> None:
        self.key = key
        self.cfg = first  # connection settings come from the first device
        self.devices: list[DeviceState] = []
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.connect_backoff = Backoff(first.backoff_min_s, first.backoff_max_s)
        self.retry_at = 0.0

    @property
    def connect_failures(self) -> int:
        return self.connect_backoff.failures

    @property
    def is_serial(self) -> bool:
        return self.cfg.transport == "rtu"

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        c = self.cfg
        if self.is_serial:
            assert c.serial_port
            return AsyncModbusSerialClient(
                c.serial_port, baudrate=c.baudrate, parity=c.parity, stopbits=c.stopbits,
                timeout=c.timeout_s, retries=0, reconnect_delay=0, name=f"werkvloer-{c.name}")
        return AsyncModbusTcpClient(
            c.host, port=c.port, timeout=c.timeout_s, retries=0, reconnect_delay=0,
            name=f"werkvloer-{c.name}")

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def connect(self) -> None:
        """Open the connection; raise ``NoAnswer`` if that fails."""
        self.close()
        self.client = self._make_client()
        try:
            ok = await asyncio.wait_for(self.client.connect(), self.cfg.timeout_s + 1.0)
        except (TimeoutError, OSError, ModbusException) as exc:
            self.close()
            raise NoAnswer(f"cannot connect: {exc or type(exc).__name__}") from None
        if not ok:
            self.close()
            raise NoAnswer(f"cannot connect to {self.cfg.serial_port if self.is_serial else where(self.cfg)}")
        if not self.is_serial and self._connected_to_itself():
            # TCP simultaneous open: with no listener on a local port in the
            # ephemeral range the kernel may pick that port as our source port.
            # Holding the connection would keep the server from binding again.
            self.close()
            raise NoAnswer("no listener (connected to itself)")

    def _connected_to_itself(self) -> bool:
        transport = getattr(getattr(self.client, "ctx", None), "transport", None)
        if transport is None:
            return False
        return transport.get_extra_info("sockname") == transport.get_extra_info("peername")

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None

    async def read(self, read: Read, unit: int, timeout_s: float) -> list[int] | list[bool]:
        client = self.client
        if client is None or not client.connected:
            raise NoAnswer("connection closed")
        fn = getattr(client, _READ_METHOD[read.table])
        try:
            # pymodbus enforces timeout_s itself; the outer bound only guards a hang (a timeout scope, not
            # wait_for: that wraps every read in a task of its own).
            async with asyncio.timeout(timeout_s * 2 + 0.5):
                rr = await fn(read.start, count=read.count, device_id=unit)
        except (TimeoutError, ConnectionException, OSError) as exc:
            if not self.is_serial:
                self.close()  # a half-open TCP connection is only cured by a new one
            raise NoAnswer(str(exc) or type(exc).__name__) from None
        except ModbusException as exc:  # no response, wrong transaction id, garbled frame
            if not self.is_serial:
                self.close()
            raise NoAnswer(str(exc)) from None
        if rr.isError():
            raise DeviceAnswered(int(getattr(rr, "exception_code", 0) or 0))
        if read.table in ("coil", "discrete"):
            bits = list(rr.bits)
            if len(bits) < read.count:
                raise NoAnswer(f"short answer: {len(bits)} of {read.count} bits")
            return bits[: read.count]
        regs = list(rr.registers)
        if len(regs) != read.count:
            raise NoAnswer(f"short answer: {len(regs)} of {read.count} registers")
        return regs


class SerialLines:
    """The serial lines open in one event loop: every device on one port shares its link.

    A port's link is held only by its devices' sources; it leaves this table
    with its last device.
    """

    def __init__(self) -> None:
        self._links: weakref.WeakValueDictionary[str, Link] = weakref.WeakValueDictionary()

    def link_for(self, cfg: ModbusDevice) -> Link:
        """The link of ``cfg.serial_port``, opened with the first device's settings."""
        assert cfg.serial_port
        link = self._links.get(cfg.serial_port)
        if link is None:
            link = Link(cfg.serial_port, cfg)
            self._links[cfg.serial_port] = link
        elif (link.cfg.baudrate, link.cfg.parity, link.cfg.stopbits) != (cfg.baudrate, cfg.parity, cfg.stopbits):
            log.error("modbus %s: %s is already open at %s baud, parity %s, stop bits %s (device %s); "
                      "using those settings: give every device on one line the same settings",
                      cfg.name, cfg.serial_port, link.cfg.baudrate, link.cfg.parity, link.cfg.stopbits,
                      link.cfg.name)
        return link


# Sources built without a SerialLines share their loop's. Keyed by the loop
# itself, weakly: a closed loop's lines go with it, and a new loop never
# inherits them (an id() can be reused).
_loop_lines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SerialLines] = weakref.WeakKeyDictionary()


def loop_serial_lines() -> SerialLines:
    """The running event loop's serial lines."""
    loop = asyncio.get_running_loop()
    lines = _loop_lines.get(loop)
    if lines is None:
        lines = _loop_lines[loop] = SerialLines()
    return lines
