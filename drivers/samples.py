"""The sample contract: the value that flows from drivers to the guard, the
recorder and the KPI engine, and the sink a source publishes it on.

The drivers own it (as pymodbus owns its PDUs); ``appliance`` composes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol, runtime_checkable


class Quality(IntEnum):
    """Quality of a sample, as stored (small ints keep the sample table small)."""

    GOOD = 0
    BAD = 1  # device answered with an error, value out of range, NaN/inf
    STALE = 2  # no fresh value within the expected interval


Value = float | int | bool | str | None


@dataclass(slots=True, frozen=True)
class Sample:
    """One reading of one signal.

    ``mono_ns`` comes from ``time.monotonic_ns()`` when the value was received
    (durations and latency); ``utc_ns`` from ``time.time_ns()`` (storage).
    """

    signal: str
    value: Value
    quality: Quality = Quality.GOOD
    mono_ns: int = field(default_factory=time.monotonic_ns)
    utc_ns: int = field(default_factory=time.time_ns)
    # Array payloads: a vibration block (1-D float32, ``seq`` = sequence number
    # of its first element, so a consumer can detect a gap) or a camera frame
    # (2-D uint8). ``value`` then holds a scalar summary (RMS, frame number).
    block: Any = None
    seq: int | None = None

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD


def now_pair() -> tuple[int, int]:
    """(monotonic ns, UTC ns) taken together."""
    return time.monotonic_ns(), time.time_ns()


@runtime_checkable
class SampleSink(Protocol):
    """Where a source puts its samples (``appliance.bus.Bus`` is one).

    ``publish`` is called from the driver's thread (event loop or a GPIO
    callback thread) and must not block.
    """

    def publish(self, sample: Sample) -> None: ...


@runtime_checkable
class SampleBus(SampleSink, Protocol):
    """A sink a source can also listen on (the camera's trigger signal)."""

    def subscribe_fast(self, callback: Callable[[Sample], None]) -> None: ...
