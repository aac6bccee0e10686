"""The value that flows from drivers to the guard, the recorder and the KPI engine."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


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
