"""The one rule from a raw reading to a signal value: ``value = raw * scale +
offset``; a value that is not finite, or lies outside ``min_value..max_value``,
is bad quality. Modbus, OPC UA and GPIO (ADC) all call :func:`convert`."""

from __future__ import annotations

import math
from typing import Protocol

# Beyond any measured float on a shop floor, below what random register bits read as a
# float give (3.4e38 was stored as good and shown with 39 digits: issue 16). Integers are exempt.
PLAUSIBLE_MAX = 1e15


class Scaling(Protocol):
    """The conversion fields of a signal (``drivers.schema.SignalBase`` has them)."""

    @property
    def scale(self) -> float: ...

    @property
    def offset(self) -> float: ...

    @property
    def min_value(self) -> float | None: ...

    @property
    def max_value(self) -> float | None: ...


def convert(sig: Scaling, raw: float | int) -> tuple[float | int | None, str | None]:
    """(value, problem) of a numeric reading; a problem makes the sample BAD.

    An integer stays an integer when scale is 1 and offset 0. A value that is
    not finite (NaN, inf, also after scaling) comes back as ``None``; one
    outside the plausible range comes back as itself, with the problem.
    """
    return check(sig, raw if sig.scale == 1.0 and sig.offset == 0.0 else raw * sig.scale + sig.offset)


def check(sig: Scaling, value: float | int) -> tuple[float | int | None, str | None]:
    """The quality half of :func:`convert`, for a value already scaled (the RMS
    of a scaled vibration block)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"value is {value}"
    if isinstance(value, float) and abs(value) > PLAUSIBLE_MAX:  # integers (uint64 counters) may be large
        return value, f"value {value:.3g} is implausible (beyond ±{PLAUSIBLE_MAX:.0e}); check type, word order and scale"
    if sig.min_value is not None and value < sig.min_value:
        return value, f"value {value} below min_value {sig.min_value}"
    if sig.max_value is not None and value > sig.max_value:
        return value, f"value {value} above max_value {sig.max_value}"
    return value, None
