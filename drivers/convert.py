"""The one rule from a raw reading to a signal value: ``value = raw * scale +
offset``; a value that is not finite, or lies outside its plausible range, is
bad quality. Modbus, OPC UA and GPIO (ADC) all call :func:`convert`.

The plausible range is ``min_value..max_value`` where the signal sets them,
else the range of its ``unit`` (:data:`UNIT_RANGES`), else anything finite up
to ±1e15 for a float. The unit ranges are wide on purpose: they catch a value
that cannot be a measurement (the wrong type or word order, a scale off by
1000, a sensor's fault code), not a process limit; that is what a signal's own
``min_value``/``max_value`` (either one replaces the unit's bound) and the
guard's rules are for.
"""

from __future__ import annotations

import math
from typing import Protocol

# Beyond any measured float on a shop floor, below what random register bits read as a
# float give (3.4e38 was stored as good and shown with 39 digits: issue 16). Integers are exempt.
PLAUSIBLE_MAX = 1e15

_TEMPERATURE_C = (-273.15, 2000.0)  # absolute zero .. a furnace
_RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("degC", "°C", "Cel"): _TEMPERATURE_C,
    ("K",): (0.0, 2273.15),
    ("degF", "°F"): (-459.67, 3632.0),
    ("bar",): (-1.1, 10_000.0),  # gauge pressure goes down to -1 bar; 10 kbar is a water jet cutter's pump
    ("mbar", "hPa"): (-1_100.0, 10_000_000.0),
    ("Pa",): (-110_000.0, 1e9),
    ("kPa",): (-110.0, 1e6),
    ("MPa",): (-0.11, 1_000.0),
    ("psi",): (-16.0, 150_000.0),
    ("rpm", "1/min"): (-1e6, 1e6),  # negative: turning backwards; high-speed spindles reach 100,000
    ("Hz",): (0.0, 1e7),
    ("A",): (-100_000.0, 100_000.0),
    ("mA",): (-100_000.0, 100_000.0),
    ("V",): (-1e6, 1e6),
    ("mV",): (-1e6, 1e6),
    ("kV",): (-1_000.0, 1_000.0),
    ("W",): (-1e9, 1e9),
    ("kW",): (-1e6, 1e6),  # negative: power fed back (regenerative drives, solar)
    ("MW",): (-1_000.0, 1_000.0),
    ("kVA", "kvar"): (-1e6, 1e6),
    ("kWh",): (-1e12, 1e12),
    ("MWh",): (-1e9, 1e9),
    ("%",): (-1_000.0, 1_000.0),  # load and speed override go above 100 %, deviations below 0
    ("%RH",): (0.0, 100.0),
    ("mm/s",): (-10_000.0, 10_000.0),  # vibration velocity
    ("m/s2", "m/s^2", "m/s²"): (-100_000.0, 100_000.0),  # vibration acceleration: shocks of 10,000 g
    ("mm",): (-1e7, 1e7),
    ("m",): (-1e4, 1e4),
    ("N",): (-1e8, 1e8),
    ("kN",): (-1e5, 1e5),
    ("Nm",): (-1e7, 1e7),
    ("l/min",): (-1e6, 1e6),
    ("m3/h", "m³/h"): (-1e5, 1e5),
    ("s",): (-1e9, 1e9),
    ("ms",): (-1e12, 1e12),
}
#: unit (as written in a signal's config) -> (lowest, highest) physically plausible value
UNIT_RANGES: dict[str, tuple[float, float]] = {unit: rng for units, rng in _RANGES.items() for unit in units}


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

    @property
    def unit(self) -> str | None: ...


def convert(sig: Scaling, raw: float | int) -> tuple[float | int | None, str | None]:
    """(value, problem) of a numeric reading; a problem makes the sample BAD.

    An integer stays an integer when scale is 1 and offset 0. A value that is
    not finite (NaN, inf, also after scaling) comes back as ``None``; one
    outside the plausible range comes back as itself, with the problem.
    """
    return check(sig, raw if sig.scale == 1.0 and sig.offset == 0.0 else raw * sig.scale + sig.offset)


def passes_integers(sig: Scaling) -> bool:
    """Whether :func:`convert` returns every integer reading as it is, with no problem (no scale or offset,
    no min/max, no unit with a range): a poller may then skip it for integer types."""
    return (sig.scale == 1.0 and sig.offset == 0.0 and sig.min_value is None and sig.max_value is None
            and (sig.unit is None or sig.unit not in UNIT_RANGES))


def check(sig: Scaling, value: float | int) -> tuple[float | int | None, str | None]:
    """The quality half of :func:`convert`, for a value already scaled (the RMS
    of a scaled vibration block)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"value is {value}"
    lo, hi = sig.min_value, sig.max_value
    if lo is not None and value < lo:
        return value, f"value {value} below min_value {lo}"
    if hi is not None and value > hi:
        return value, f"value {value} above max_value {hi}"
    if (lo is None or hi is None) and sig.unit is not None and (rng := UNIT_RANGES.get(sig.unit)) is not None:
        if (lo is None and value < rng[0]) or (hi is None and value > rng[1]):
            return value, (f"value {value:.6g} is implausible for {sig.unit} (outside {rng[0]:g}..{rng[1]:g}); "
                           "check type, word order and scale, or set the signal's min_value/max_value")
    if isinstance(value, float) and abs(value) > PLAUSIBLE_MAX:  # integers (uint64 counters) may be large
        return value, f"value {value:.3g} is implausible (beyond ±{PLAUSIBLE_MAX:.0e}); check type, word order and scale"
    return value, None
