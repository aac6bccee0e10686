"""The guard's own Modbus TCP reader: one thread, one blocking connection, no event loop.

Issue 11 ("a fast path that owns its I/O"). The signals a guard rule watches
are read here, not by :class:`~drivers.modbus.source.ModbusSource` on the core's
shared event loop: a blocked or busy loop (IPC, UI load, other devices) cannot
delay a stop. Each cycle reads the planned blocks back to back on a pymodbus
*sync* client (``poll_interval_ms = 0``: as fast as the PLC answers; else one
cycle per interval), takes the sample's time when the request is sent, decodes
and hands the samples to ``deliver`` *in this thread*; the guard decides and
writes its stop outputs right there.

Connection loss: one ERROR, samples of bad quality once, reconnect with the
shared bounded backoff (``drivers.backoff``), one INFO when it answers again.
``health`` is a :class:`~drivers.base.SourceHealth`, so the core's source
watch alerts on it like on any device.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from pymodbus.exceptions import ModbusException

from drivers.backoff import Backoff
from drivers.base import SourceHealth
from drivers.convert import convert
from drivers.samples import Quality, Sample

from . import codec
from .config import ModbusDevice, ModbusSignal
from .output import _TcpClient
from .plan import Read, plan_reads

log = logging.getLogger(__name__)

Deliver = Callable[[list[Sample]], None]


def scalar(sig: ModbusSignal, chunk: Sequence[int] | Sequence[bool]) -> tuple[float | int | bool | None, Quality]:
    """One scalar signal's value from its registers/bits (scale, offset, plausible range)."""
    if sig.table in ("coil", "discrete"):
        return bool(chunk[0]), Quality.GOOD
    if sig.type == "bool":
        return bool((int(chunk[0]) >> int(sig.bit or 0)) & 1), Quality.GOOD
    raw = codec.decode([int(v) for v in chunk], sig.type, sig.word_order)
    if not codec.finite(raw):
        return None, Quality.BAD
    value, problem = convert(sig, raw)
    return value, Quality.GOOD if problem is None else Quality.BAD


class FastModbusReader:
    """Reads ``signals`` (scalars of ``device``, TCP) in a thread of its own and calls ``deliver``."""

    def __init__(self, device: ModbusDevice, signals: Sequence[ModbusSignal], *, deliver: Deliver,
                 on_start: Callable[[], None] | None = None) -> None:
        if device.transport != "tcp":
            raise ValueError(f"device {device.name}: the guard's fast reader is for Modbus TCP only")
        bad = [s.name for s in signals if s.type in ("string", "block")]
        if bad:
            raise ValueError(f"device {device.name}: the fast reader reads scalars, not {', '.join(bad)}")
        self.device = device
        self.signals = list(signals)
        self.name = f"{device.name}-guard"
        self.health = SourceHealth(name=self.name, kind="modbus")
        self._reads: list[Read] = plan_reads(device.model_copy(update={"signals": self.signals}))
        self.interval_ns = min(r.interval_ms for r in self._reads) * 1_000_000 if self._reads else 0
        self._deliver = deliver
        self._on_start = on_start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: _TcpClient | None = None
        self.cycles = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"guard-fast-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close()
        self.health.state = "stopped"
        self.health.available = False

    # ----- the loop --------------------------------------------------------------------
    def _run(self) -> None:
        if self._on_start is not None:
            self._on_start()
        backoff = Backoff(self.device.backoff_min_s, self.device.backoff_max_s)
        lost = False
        next_ns = time.monotonic_ns()
        while not self._stop.is_set():
            try:
                if self._client is None:
                    self._connect()
                self._cycle()
            except (ModbusException, OSError, ConnectionError) as exc:
                self._close()
                self.health.available = False
                self.health.state = "unavailable"
                self.health.last_error = str(exc)
                if not lost:
                    lost = True
                    log.error("modbus %s: the guard's fast reader lost the device (%s); reconnecting",
                              self.device.name, exc)
                    now, utc = time.monotonic_ns(), time.time_ns()
                    self._deliver([Sample(s.name, None, Quality.BAD, now, utc) for s in self.signals])
                self._stop.wait(backoff.failed())
                continue
            if lost:
                lost = False
                log.info("modbus %s: the guard's fast reader reads again", self.device.name)
            backoff.reset()
            self.cycles += 1
            if self.interval_ns:
                next_ns += self.interval_ns
                wait = next_ns - time.monotonic_ns()
                if wait > 0:
                    self._stop.wait(wait / 1e9)
                else:
                    next_ns = time.monotonic_ns()  # late (a slow answer): no burst to catch up

    def _connect(self) -> None:
        d = self.device
        client = _TcpClient(d.host, port=d.port, timeout=d.timeout_s, retries=0, name=f"werkvloer-fast-{d.name}")
        if not client.connect():
            client.close()
            raise ConnectionError(f"cannot connect to {d.host}:{d.port}")
        self._client = client

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _cycle(self) -> None:
        client = self._client
        assert client is not None
        unit = self.device.unit_id
        for read in self._reads:
            mono = time.monotonic_ns()  # when the request is sent (issue 11)
            if read.table == "holding":
                rr = client.read_holding_registers(read.start, count=read.count, device_id=unit)
            elif read.table == "input":
                rr = client.read_input_registers(read.start, count=read.count, device_id=unit)
            elif read.table == "coil":
                rr = client.read_coils(read.start, count=read.count, device_id=unit)
            else:
                rr = client.read_discrete_inputs(read.start, count=read.count, device_id=unit)
            utc = time.time_ns()
            if rr.isError():
                self.health.last_error = f"{read.describe()}: exception {getattr(rr, 'exception_code', '?')}"
                self._deliver([Sample(s.name, None, Quality.BAD, mono, utc) for s in read.signals])
                continue
            values = rr.bits if read.table in ("coil", "discrete") else rr.registers
            out = []
            for sig in read.signals:
                off = sig.address - read.start
                try:
                    v, q = scalar(sig, values[off:off + sig.register_count])
                except (ValueError, IndexError):
                    v, q = None, Quality.BAD
                out.append(Sample(sig.name, v, q, mono, utc))
            self.health.available = True
            self.health.state = "ok"
            self.health.last_good_utc_ns = utc
            self._deliver(out)
