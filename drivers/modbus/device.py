"""One Modbus device's state: its planned reads, the outcome of each read, and
the decoding of registers into samples on the bus.

A device that does not answer costs one timeout, then waits out a backoff
(``backoff_min_s`` doubling to ``backoff_max_s``, with jitter, ``drivers.backoff``)
before one probe read. ``health.available`` is whether the last poll
succeeded; ERROR is logged once when a device is lost, INFO once when it is
back, DEBUG in between.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.backoff import Backoff
from drivers.base import SourceHealth
from drivers.complaints import Complaints
from drivers.convert import check, convert, passes_integers
from drivers.samples import Quality, Sample, SampleSink, Value

from . import codec
from .config import ModbusDevice, ModbusSignal
from .link import DeviceAnswered
from .plan import Read, plan_reads

# The source's log name, kept from before the split so log filters stay valid.
log = logging.getLogger("drivers.modbus.source")


@dataclass(eq=False)
class SignalState:
    signal: ModbusSignal
    interval_s: float
    last_value: Value = None
    last_quality: Quality | None = None
    last_mono: float = 0.0
    last_seq: int | None = None


# Integer types whose decoded reading is the sample's value when ``passes_integers`` holds.
_INTEGER_TYPES = frozenset({"int16", "uint16", "int32", "uint32", "int64", "uint64"})


@dataclass(eq=False)
class ReadState:
    read: Read
    due: float = 0.0
    failing: str | None = None  # device exception logged for this read
    # Per signal of the read, worked out once: (state, first and end index in the answer, decoded as a plain
    # integer?). A 20-register block polled 2,000 times a second otherwise redoes this per signal per poll.
    slots: list[tuple[SignalState, int, int, bool]] | None = None


@dataclass(eq=False)
class DeviceState:
    cfg: ModbusDevice
    bus: SampleSink
    health: SourceHealth
    reads: list[ReadState] = field(default_factory=list)
    signals: dict[str, SignalState] = field(default_factory=dict)
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
        self.reads = [ReadState(r, due=now) for r in plan_reads(self.cfg)]
        for r in self.reads:
            for s in r.read.signals:
                self.signals[s.name] = SignalState(s, r.read.interval_ms / 1000)

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

    def device_exception(self, rs: ReadState, exc: DeviceAnswered) -> None:
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

    def split_read(self, rs: ReadState) -> None:
        """The device refused a merged range: read its signals one by one from now on."""
        log.warning("modbus %s: device refuses %s as one read; reading its %d signals one by one",
                    self.cfg.name, rs.read.describe(), len(rs.read.signals))
        i = self.reads.index(rs)
        self.reads[i:i + 1] = [ReadState(r, due=rs.due) for r in rs.read.split()]

    # -- decoding
    def handle_values(self, rs: ReadState, values: list[int] | list[bool], mono: int, utc: int) -> None:
        if rs.failing is not None:
            log.info("modbus %s: %s reads again", self.cfg.name, rs.read.describe())
            rs.failing = None
        slots = rs.slots if rs.slots is not None else self._slots(rs)
        decode, good, complaints, publish = codec.decode, Quality.GOOD, self.complaints, self.bus.publish
        mono_s = mono / 1e9
        for st, lo, hi, plain in slots:
            chunk = values[lo:hi]
            try:
                if plain:  # _decode_publish then _good and _publish, without the type dispatch and conversion
                    sig = st.signal
                    value = decode(chunk, sig.type, sig.word_order)
                    if complaints.any_bad:
                        complaints.good(sig.name)
                    st.last_mono, st.last_value, st.last_quality = mono_s, value, good
                    publish(Sample(sig.name, value, good, mono, utc))
                else:
                    self._decode_publish(st, chunk, mono, utc)
            except Exception as exc:  # a decoding bug must cost one signal, not the poller
                self._complain(st, f"cannot decode: {exc}")
                self._publish(st, None, Quality.BAD, mono, utc)

    def _slots(self, rs: ReadState) -> list[tuple[SignalState, int, int, bool]]:
        start = rs.read.start
        rs.slots = [(self.signals[sig.name], sig.address - start, sig.address - start + sig.register_count,
                     sig.table in ("holding", "input") and sig.type in _INTEGER_TYPES and passes_integers(sig))
                    for sig in rs.read.signals]
        return rs.slots

    def _decode_publish(self, st: SignalState, chunk: list[Any], mono: int, utc: int) -> None:
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

    def _checked(self, st: SignalState, raw: float | int, mono: int, utc: int, *, scaled: bool = False,
                 **extra: Any) -> None:
        value, problem = check(st.signal, raw) if scaled else convert(st.signal, raw)
        if problem is not None:
            self._complain(st, problem)
            self._publish(st, value, Quality.BAD, mono, utc, **extra)
            return
        self._good(st, value, mono, utc, **extra)

    def _good(self, st: SignalState, value: Value, mono: int, utc: int, **extra: Any) -> None:
        self.complaints.good(st.signal.name)
        self._publish(st, value, Quality.GOOD, mono, utc, **extra)

    def _complain(self, st: SignalState, why: str) -> None:
        self.complaints.bad(st.signal.name, why)

    def _publish(self, st: SignalState, value: Value, quality: Quality, mono: int, utc: int, *,
                 block: Any = None, seq: int | None = None) -> None:
        if quality is not Quality.STALE:
            st.last_mono = mono / 1e9
        if quality is Quality.GOOD:
            st.last_value = value
        st.last_quality = quality
        self.bus.publish(Sample(st.signal.name, value, quality, mono, utc, block, seq))

    def check_stale(self, now: float) -> None:
        """Mark GOOD values that have not been refreshed in 3 intervals + one timeout as STALE."""
        mono, utc = time.monotonic_ns(), time.time_ns()
        for st in self.signals.values():
            if st.last_quality is Quality.GOOD and now - st.last_mono > 3 * st.interval_s + self.cfg.timeout_s:
                self._publish(st, st.last_value, Quality.STALE, mono, utc)
