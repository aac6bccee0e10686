"""The guard's Modbus stop output: a coil or register write on its own connection.

Runs in the guard's threads, synchronously, on a pymodbus sync client opened
beforehand (``open()``), never on the poller's connection: a poller stuck in a
timeout to another unit must not delay a stop. ``fire()`` returns when the
device has echoed the write (the Modbus write response is its acknowledgement)
and raises ``DeviceError`` otherwise. ``fire()`` and ``release()`` never
connect: a broken connection is dropped, and the guard's output bank
(``appliance/guard/bank.py``) reconnects with ``open()`` in the output's own
thread, keeps the connection alive with ``check()`` (one read of the stop
coil/register) and writes an unconfirmed stop again (issue 11, issue 16).

This is a supplementary stop, not a safety function (not rated under
ISO 13849 / IEC 62061).
"""

from __future__ import annotations

import logging
import threading
from typing import NoReturn

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from drivers.errors import DeviceError, DeviceUnavailable

from .config import ModbusOutputConfig

log = logging.getLogger(__name__)


class _TcpClient(ModbusTcpClient):
    """A client that refuses a TCP self-connection, also when pymodbus
    reconnects by itself inside a request (its sync_execute calls connect()).

    With no listener on a local port in the ephemeral range the kernel may
    hand out that port as our source port (TCP simultaneous open). A
    write-coil request echoed back looks exactly like its acknowledgement, so
    a stop that reached nobody would pass as done.
    """

    self_connected = False

    def connect(self) -> bool:
        if not super().connect():
            return False
        sock = self.socket
        try:
            looped = sock is not None and sock.getsockname() == sock.getpeername()
        except OSError:
            looped = False
        if looped:
            self.self_connected = True
            self.close()
            return False
        return True


class ModbusStopOutput:
    """``StopOutput`` over Modbus TCP (a ``ModbusOutputConfig``)."""

    def __init__(self, cfg: ModbusOutputConfig) -> None:
        if cfg.kind != "modbus":
            raise ValueError(f"output {cfg.name!r} has kind {cfg.kind!r}; ModbusStopOutput needs kind 'modbus'")
        if not cfg.host or cfg.address is None:
            raise ValueError(f"output {cfg.name!r}: a modbus output needs host and address "
                             f"(guard.outputs: host = \"192.168.0.10\", address = 0)")
        self.cfg = cfg
        self.name = cfg.name
        self._client: ModbusTcpClient | None = None
        self._lock = threading.Lock()  # fire() and the heartbeat may come from different threads
        self._heartbeat = 0
        self._broken = False  # logged once per outage
        self.writes = 0

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port} unit {self.cfg.unit_id} {self.cfg.table} {self.cfg.address}"

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.connected

    # ----- StopOutput
    def open(self) -> None:
        """Connect now (one attempt), so that ``fire()`` does not pay for it. Raises ``DeviceError``."""
        with self._lock:
            self._connect()

    def check(self) -> bool | None:
        """Keep-alive: read the stop coil/register back (one cheap round trip); True = in stop,
        None = the device refuses reading it (the link is alive all the same).

        Raises ``DeviceError`` (and drops the connection) when the device does
        not answer, so a PLC that closed the connection is noticed before the
        stop is needed.
        """
        with self._lock:
            client = self._require()
            address = int(self.cfg.address or 0)
            try:
                if self.cfg.table == "coil":
                    rr = client.read_coils(address, count=1, device_id=self.cfg.unit_id)
                else:
                    rr = client.read_holding_registers(address, count=1, device_id=self.cfg.unit_id)
            except (ModbusException, OSError) as exc:
                self._fail(f"no answer to the keep-alive read within {self.cfg.timeout_ms:g} ms ({exc})")
            if rr.isError():
                return None  # a refusal (the PLC does not allow reading it) still proves the link
            return bool(rr.bits[0]) if self.cfg.table == "coil" else int(rr.registers[0]) == int(self.cfg.value)

    def fire(self) -> None:
        """Write the trip value and wait for the device's acknowledgement."""
        value = True if self.cfg.table == "coil" else int(self.cfg.value)
        self._write(value)

    def release(self) -> None:
        """Write the idle value (coil off / register 0)."""
        self._write(False if self.cfg.table == "coil" else 0)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def toggle_heartbeat(self) -> int:
        """Write the other heartbeat value (0/1) and return it. Raises ``DeviceError``.

        The heartbeat is not a stop output: it reconnects here when needed."""
        with self._lock:
            self._connect()
            nxt = 0 if self._heartbeat else 1
            self._write_locked(bool(nxt) if self.cfg.table == "coil" else nxt)
            self._heartbeat = nxt
            return nxt

    # ----- internals
    def _connect(self) -> None:
        if self._client is not None and self._client.connected:
            return
        self._drop()
        timeout = self.cfg.timeout_ms / 1000
        client = _TcpClient(str(self.cfg.host), port=self.cfg.port, timeout=timeout, retries=0,
                            name=f"werkvloer-out-{self.name}")
        if not client.connect():
            client.close()
            if client.self_connected:
                self._fail(f"no listener on {self.cfg.host}:{self.cfg.port} (connected to itself)")
            self._fail(f"cannot connect to {self.cfg.host}:{self.cfg.port}")
        self._client = client

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing a broken socket must not mask the real error
                log.debug("closing output %s failed", self.name, exc_info=True)
            self._client = None

    def _fail(self, why: str) -> NoReturn:
        self._drop()
        if not self._broken:
            # The guard's output bank logs the outage (once, and once when it is back) and raises
            # the alert: here only for debugging, or every outage would be two ERROR lines.
            log.debug("stop output %s (%s): %s", self.name, self.where, why)
            self._broken = True
        raise DeviceError(f"stop output {self.name} ({self.where}): {why}; check the cable, the PLC and its "
                          "Modbus server settings")

    def _write(self, value: bool | int) -> None:
        with self._lock:
            self._write_locked(value)

    def _require(self) -> ModbusTcpClient:
        client = self._client
        if client is None or not client.connected:
            # Never connect on the stop path: the bank reconnects in the background.
            raise DeviceUnavailable(f"stop output {self.name} ({self.where}): not connected; "
                                    "reconnecting in the background")
        return client

    def _write_locked(self, value: bool | int) -> None:
        client = self._require()
        address = int(self.cfg.address or 0)
        try:
            if self.cfg.table == "coil":
                rr = client.write_coil(address, bool(value), device_id=self.cfg.unit_id)
            else:
                rr = client.write_register(address, int(value) & 0xFFFF, device_id=self.cfg.unit_id)
        except (ModbusException, OSError) as exc:
            self._fail(f"no acknowledgement within {self.cfg.timeout_ms:g} ms ({exc})")
        if rr.isError():
            # A refusal (busy, not writable now) proves the link: keep the connection for the retry.
            raise DeviceError(f"stop output {self.name} ({self.where}): device refused the write (exception "
                              f"{getattr(rr, 'exception_code', '?')}); check the PLC accepts writes there")
        self.writes += 1
        if self._broken:
            log.debug("stop output %s (%s) works again", self.name, self.where)
            self._broken = False
