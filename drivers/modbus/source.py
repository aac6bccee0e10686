"""ModbusSource: polls one Modbus device and publishes its signals on the bus.

Shape (after Home Assistant's update coordinator):

- A *link* is one connection: a TCP socket to one device, or one serial port
  (RS-485 line) shared by every unit on it.
- One *poller* task per link. For TCP that is one poller per device; for RTU
  the devices (unit ids) on one serial port are polled in turn by one line
  poller, because a half-duplex line carries one request at a time.
- Each device's signals are planned into block reads (``plan.py``), each read
  with its own interval. The poller always runs the read that is due first.
- A device that does not answer costs one timeout, then waits out a backoff
  (``backoff_min_s`` doubling to ``backoff_max_s``, with jitter, ``drivers.backoff``)
  before one probe read; in
  the meantime the other units on the line are polled at their own rate.
- ``health.available`` is whether the last poll succeeded; ERROR is logged
  once when a device is lost, INFO once when it is back, DEBUG in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from drivers.backoff import Backoff
from drivers.base import SourceHealth
from drivers.complaints import Complaints
from drivers.convert import check, convert
from drivers.samples import Quality, Sample, SampleSink, Value

from . import codec
from .config import ModbusDevice, ModbusSignal
from .plan import Read, plan_reads

log = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "device failure", 5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target did not respond",
}


class _DeviceAnswered(Exception):
    """The device answered with a Modbus exception (it is reachable)."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")


class _NoAnswer(Exception):
    """Timeout, lost connection or garbled answer: the device is not reachable."""


# ---------------------------------------------------------------- links
class _Link:
    """One connection (TCP socket or serial line) and the devices polled over it."""

    def __init__(self, key: str, first: ModbusDevice) -> None:
        self.key = key
        self.cfg = first  # connection settings come from the first device
        self.devices: list[_DeviceState] = []
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
        """Open the connection; raise ``_NoAnswer`` if that fails."""
        self.close()
        self.client = self._make_client()
        try:
            ok = await asyncio.wait_for(self.client.connect(), self.cfg.timeout_s + 1.0)
        except (TimeoutError, OSError, ModbusException) as exc:
            self.close()
            raise _NoAnswer(f"cannot connect: {exc or type(exc).__name__}") from None
        if not ok:
            self.close()
            where = self.cfg.serial_port if self.is_serial else f"{self.cfg.host}:{self.cfg.port}"
            raise _NoAnswer(f"cannot connect to {where}")
        if not self.is_serial and self._connected_to_itself():
            # TCP simultaneous open: with no listener on a local port in the
            # ephemeral range the kernel may pick that port as our source port.
            # Holding the connection would keep the server from binding again.
            self.close()
            raise _NoAnswer("no listener (connected to itself)")

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
            raise _NoAnswer("connection closed")
        fn = {
            "holding": client.read_holding_registers, "input": client.read_input_registers,
            "coil": client.read_coils, "discrete": client.read_discrete_inputs,
        }[read.table]
        try:
            # pymodbus enforces timeout_s itself; the outer bound only guards a hang.
            rr = await asyncio.wait_for(fn(read.start, count=read.count, device_id=unit), timeout_s * 2 + 0.5)
        except (TimeoutError, ConnectionException, OSError) as exc:
            if not self.is_serial:
                self.close()  # a half-open TCP connection is only cured by a new one
            raise _NoAnswer(str(exc) or type(exc).__name__) from None
        except ModbusException as exc:  # no response, wrong transaction id, garbled frame
            if not self.is_serial:
                self.close()
            raise _NoAnswer(str(exc)) from None
        if rr.isError():
            raise _DeviceAnswered(int(getattr(rr, "exception_code", 0) or 0))
        if read.table in ("coil", "discrete"):
            bits = list(rr.bits)
            if len(bits) < read.count:
                raise _NoAnswer(f"short answer: {len(bits)} of {read.count} bits")
            return bits[: read.count]
        regs = list(rr.registers)
        if len(regs) != read.count:
            raise _NoAnswer(f"short answer: {len(regs)} of {read.count} registers")
        return regs


# Serial lines are process-wide resources (a port opens once), so devices on
# one port find their shared link here. Entries vanish with their last device.
_serial_links: weakref.WeakValueDictionary[tuple[int, str], _Link] = weakref.WeakValueDictionary()


# ---------------------------------------------------------------- device state
@dataclass(eq=False)
class _SignalState:
    signal: ModbusSignal
    interval_s: float
    last_value: Value = None
    last_quality: Quality | None = None
    last_mono: float = 0.0
    last_seq: int | None = None


@dataclass(eq=False)
class _ReadState:
    read: Read
    due: float = 0.0
    failing: str | None = None  # device exception logged for this read


@dataclass(eq=False)
class _DeviceState:
    cfg: ModbusDevice
    bus: SampleSink
    health: SourceHealth
    reads: list[_ReadState] = field(default_factory=list)
    signals: dict[str, _SignalState] = field(default_factory=dict)
    backoff: Backoff = field(init=False)
    complaints: Complaints = field(init=False)
    retry_at: float = 0.0
    lost_at: float | None = None
    polls: int = 0  # successful reads (for tests and benchmarks)
    timeouts: int = 0  # reads without an answer

    def __post_init__(self) -> None:
        now = time.monotonic()
        self.backoff = Backoff(self.cfg.backoff_min_s, self.cfg.backoff_max_s)
        self.complaints = Complaints(log, f"modbus {self.cfg.name}")
        self.reads = [_ReadState(r, due=now) for r in plan_reads(self.cfg)]
        for r in self.reads:
            for s in r.read.signals:
                self.signals[s.name] = _SignalState(s, r.read.interval_ms / 1000)

    @property
    def failures(self) -> int:
        return self.backoff.failures

    # -- outcomes
    def succeeded(self) -> None:
        h = self.health
        if self.lost_at is not None:
            log.info("modbus %s: answering again after %.1f s", self.cfg.name, time.monotonic() - self.lost_at)
            self.lost_at = None
        self.backoff.reset()
        self.polls += 1
        h.available = True
        h.state = "ok"
        h.last_good_utc_ns = time.time_ns()

    def failed(self, reason: str, where: str) -> None:
        """The device did not answer: BAD samples once, ERROR once, then back off."""
        self.timeouts += 1
        delay = self.backoff.failed()
        self.retry_at = time.monotonic() + delay
        h = self.health
        h.available = False
        h.state = "unavailable"
        h.last_error = reason
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            log.error("modbus %s (%s, unit %s): no answer (%s); its signals are bad until it answers, "
                      "retrying every %g-%g s", self.cfg.name, where, self.cfg.unit_id, reason,
                      self.cfg.backoff_min_s, self.cfg.backoff_max_s)
            mono, utc = time.monotonic_ns(), time.time_ns()
            for st in self.signals.values():
                self._publish(st, None, Quality.BAD, mono, utc)
        else:
            log.debug("modbus %s: still no answer (%s); next try in %.1f s", self.cfg.name, reason, delay)

    def device_exception(self, rs: _ReadState, exc: _DeviceAnswered) -> None:
        msg = str(exc)
        self.health.last_error = f"{rs.read.describe()}: {msg}"
        mono, utc = time.monotonic_ns(), time.time_ns()
        if rs.failing != msg:
            rs.failing = msg
            log.warning("modbus %s: device answered %s for %s (signals %s); they are stored as bad",
                        self.cfg.name, msg, rs.read.describe(), ", ".join(s.name for s in rs.read.signals))
        for s in rs.read.signals:
            st = self.signals[s.name]
            if st.last_quality is not Quality.BAD:
                self._publish(st, None, Quality.BAD, mono, utc)

    def split_read(self, rs: _ReadState) -> None:
        """The device refused a merged range: read its signals one by one from now on."""
        log.warning("modbus %s: device refuses %s as one read; reading its %d signals one by one",
                    self.cfg.name, rs.read.describe(), len(rs.read.signals))
        i = self.reads.index(rs)
        self.reads[i:i + 1] = [_ReadState(r, due=rs.due) for r in rs.read.split()]

    # -- decoding
    def handle_values(self, rs: _ReadState, values: list[int] | list[bool], mono: int, utc: int) -> None:
        if rs.failing is not None:
            log.info("modbus %s: %s reads again", self.cfg.name, rs.read.describe())
            rs.failing = None
        start = rs.read.start
        for sig in rs.read.signals:
            st = self.signals[sig.name]
            chunk = values[sig.address - start: sig.address - start + sig.register_count]
            try:
                self._decode_publish(st, chunk, mono, utc)
            except Exception as exc:  # a decoding bug must cost one signal, not the poller
                self._complain(st, f"cannot decode: {exc}")
                self._publish(st, None, Quality.BAD, mono, utc)

    def _decode_publish(self, st: _SignalState, chunk: list[Any], mono: int, utc: int) -> None:
        sig = st.signal
        if sig.table in ("coil", "discrete"):
            self._good(st, bool(chunk[0]), mono, utc)
            return
        if sig.type == "bool":
            self._good(st, bool((int(chunk[0]) >> int(sig.bit or 0)) & 1), mono, utc)
            return
        if sig.type == "string":
            self._good(st, codec.decode_string(chunk, sig.word_order), mono, utc)
            return
        if sig.type == "block":
            seq, block_raw = codec.decode_block(chunk, sig.word_order)
            if seq == st.last_seq:
                return  # the device has not refilled the block yet: not a new value
            st.last_seq = seq
            data = (block_raw * np.float32(sig.scale) + np.float32(sig.offset)).astype(np.float32)
            rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64)))) if data.size else 0.0
            if not math.isfinite(rms):
                self._complain(st, "block holds NaN/inf")
                self._publish(st, None, Quality.BAD, mono, utc, block=data, seq=seq)
                return
            self._checked(st, rms, mono, utc, block=data, seq=seq, scaled=True)
            return
        raw = codec.decode(chunk, sig.type, sig.word_order)
        if not codec.finite(raw):
            self._complain(st, f"value is {raw}")
            self._publish(st, None, Quality.BAD, mono, utc)
            return
        if sig.type == "float32":
            raw = float(f"{raw:.7g}")  # a float32 carries ~7 digits; drop float64 noise (5.599999904 -> 5.6)
        self._checked(st, raw, mono, utc)

    def _checked(self, st: _SignalState, raw: float | int, mono: int, utc: int, *, scaled: bool = False,
                 **extra: Any) -> None:
        value, problem = check(st.signal, raw) if scaled else convert(st.signal, raw)
        if problem is not None:
            self._complain(st, problem)
            self._publish(st, value, Quality.BAD, mono, utc, **extra)
            return
        self._good(st, value, mono, utc, **extra)

    def _good(self, st: _SignalState, value: Value, mono: int, utc: int, **extra: Any) -> None:
        self.complaints.good(st.signal.name)
        self._publish(st, value, Quality.GOOD, mono, utc, **extra)

    def _complain(self, st: _SignalState, why: str) -> None:
        self.complaints.bad(st.signal.name, why)

    def _publish(self, st: _SignalState, value: Value, quality: Quality, mono: int, utc: int, **extra: Any) -> None:
        if quality is not Quality.STALE:
            st.last_mono = mono / 1e9
        if quality is Quality.GOOD:
            st.last_value = value
        st.last_quality = quality
        self.bus.publish(Sample(st.signal.name, value, quality, mono, utc, **extra))

    def check_stale(self, now: float) -> None:
        """Mark GOOD values that have not been refreshed in 3 intervals + one timeout as STALE."""
        mono, utc = time.monotonic_ns(), time.time_ns()
        for st in self.signals.values():
            if st.last_quality is Quality.GOOD and now - st.last_mono > 3 * st.interval_s + self.cfg.timeout_s:
                self._publish(st, st.last_value, Quality.STALE, mono, utc)


# ---------------------------------------------------------------- poller
async def _poll_link(link: _Link) -> None:
    """Serve every device on ``link``; a bug in one round must not end the polling."""
    try:
        while link.devices:
            try:
                await _poll_rounds(link)
            except Exception:
                log.exception("modbus %s: poller failed; restarting it in 1 s", link.key)
                link.close()
                await asyncio.sleep(1.0)
    finally:
        link.close()


async def _poll_rounds(link: _Link) -> None:
    """Serve every device on ``link``: always the read that is due first."""
    next_stale_check = 0.0
    while link.devices:
        now = time.monotonic()
        if now >= next_stale_check:
            for dev in link.devices:
                dev.check_stale(now)
            next_stale_check = now + 0.1
        pick: tuple[float, _DeviceState, _ReadState] | None = None
        for dev in link.devices:
            gate = max(dev.retry_at, link.retry_at)
            for rs in dev.reads:
                due = max(rs.due, gate)
                if pick is None or due < pick[0]:
                    pick = (due, dev, rs)
        if pick is None:  # devices without signals: nothing to do but wait for a change
            link.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.wake.wait(), 1.0)
            continue
        due, dev, rs = pick
        if due > now:
            link.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.wake.wait(), min(due - now, max(0.0, next_stale_check - now)) + 1e-4)
            continue
        if not link.connected:
            try:
                await link.connect()
                link.connect_backoff.reset()
                link.retry_at = 0.0
            except _NoAnswer as exc:
                for d in link.devices:
                    d.failed(str(exc), _where(d.cfg))
                link.retry_at = time.monotonic() + link.connect_backoff.failed()
                continue
        await _run_read(link, dev, rs)


async def _run_read(link: _Link, dev: _DeviceState, rs: _ReadState) -> None:
    cfg = dev.cfg
    try:
        values = await link.read(rs.read, cfg.unit_id, cfg.timeout_s)
    except _NoAnswer as exc:
        _reschedule(rs)
        if link.is_serial and not link.connected:  # the port itself went away
            for d in link.devices:
                d.failed(str(exc), _where(d.cfg))
            link.retry_at = dev.retry_at
        else:
            dev.failed(str(exc), _where(cfg))
        return
    except _DeviceAnswered as exc:
        dev.succeeded()  # it answered: reachable
        if exc.code == 2 and len(rs.read.signals) > 1:
            dev.split_read(rs)
            return
        _reschedule(rs)
        dev.device_exception(rs, exc)
        return
    mono, utc = time.monotonic_ns(), time.time_ns()
    _reschedule(rs)
    dev.succeeded()
    dev.handle_values(rs, values, mono, utc)


def _reschedule(rs: _ReadState) -> None:
    now = time.monotonic()
    rs.due += rs.read.interval_ms / 1000
    if rs.due < now:  # fell behind (slow device, outage): carry on from now, do not burst
        rs.due = now


def _where(cfg: ModbusDevice) -> str:
    return f"{cfg.serial_port} @{cfg.baudrate}" if cfg.transport == "rtu" else f"{cfg.host}:{cfg.port}"


# ---------------------------------------------------------------- the source
class ModbusSource:
    """One Modbus device (TCP, or one unit on an RTU line) as a bus source.

    ``async with ModbusSource(device, bus):`` starts polling in the background
    and returns at once; leaving the block stops it and closes the connection
    (an RTU line closes when its last device leaves).
    """

    kind = "modbus"

    def __init__(self, device: ModbusDevice, bus: SampleSink) -> None:
        self.device = device
        self.name = device.name
        self.bus = bus
        self.health = SourceHealth(name=device.name, kind="modbus")
        self._state: _DeviceState | None = None
        self._link: _Link | None = None

    @property
    def polls(self) -> int:
        """Successful reads so far."""
        return self._state.polls if self._state else 0

    @property
    def timeouts(self) -> int:
        """Reads that got no answer so far."""
        return self._state.timeouts if self._state else 0

    async def __aenter__(self) -> ModbusSource:
        cfg = self.device
        self.health.state = "starting"
        self._state = _DeviceState(cfg, self.bus, self.health)
        if cfg.transport == "rtu":
            assert cfg.serial_port
            key = (id(asyncio.get_running_loop()), cfg.serial_port)
            link = _serial_links.get(key)
            if link is None:
                link = _Link(cfg.serial_port, cfg)
                _serial_links[key] = link
            elif (link.cfg.baudrate, link.cfg.parity, link.cfg.stopbits) != (cfg.baudrate, cfg.parity, cfg.stopbits):
                log.error("modbus %s: %s is already open at %s baud, parity %s, stop bits %s (device %s); "
                          "using those settings: give every device on one line the same settings",
                          cfg.name, cfg.serial_port, link.cfg.baudrate, link.cfg.parity, link.cfg.stopbits,
                          link.cfg.name)
        else:
            link = _Link(f"{cfg.host}:{cfg.port}/{cfg.unit_id}", cfg)
        self._link = link
        link.devices.append(self._state)
        link.wake.set()
        if link.task is None or link.task.done():
            link.task = asyncio.create_task(_poll_link(link), name=f"modbus-{link.key}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        link, state = self._link, self._state
        self._link = None
        if link is None or state is None:
            return
        if state in link.devices:
            link.devices.remove(state)
        link.wake.set()
        if not link.devices and link.task is not None:
            link.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.task
            link.task = None
            link.close()
        self.health.state = "stopped"
        self.health.available = False
