"""The one conversion rule every driver uses (drivers.convert)."""

from __future__ import annotations

import math

from drivers.convert import check, convert
from drivers.schema import SignalBase


def sig(**kw: object) -> SignalBase:
    return SignalBase.model_validate({"name": "spindle_speed", **kw})


def test_identity_keeps_an_integer() -> None:
    value, problem = convert(sig(), 1200)
    assert value == 1200 and isinstance(value, int) and problem is None


def test_scale_offset_then_range() -> None:
    s = sig(scale=0.1, offset=-5.0, min_value=0.0, max_value=100.0)
    assert convert(s, 1000) == (95.0, None)
    value, problem = convert(s, 1100)
    assert value == 105.0 and problem == "value 105.0 above max_value 100.0"
    value, problem = convert(s, 0)
    assert value == -5.0 and problem == "value -5.0 below min_value 0.0"


def test_not_finite_is_no_value_also_after_scaling() -> None:
    assert convert(sig(), math.nan) == (None, "value is nan")
    assert convert(sig(scale=1e308), 1e10) == (None, "value is inf")
    assert check(sig(max_value=1.0), 0.5) == (0.5, None)


def test_a_units_range_marks_what_cannot_be_a_measurement() -> None:
    temp = sig(unit="degC")
    assert check(temp, 21.5) == (21.5, None) and check(temp, -40) == (-40, None)
    value, problem = check(temp, 1.5e9)  # below the global ±1e15, not a temperature
    assert value == 1.5e9 and problem is not None and "implausible for degC" in problem and "min_value" in problem
    assert check(temp, -300.0)[1] is not None  # below absolute zero
    assert check(sig(unit="bar"), 12.0)[1] is None and check(sig(unit="bar"), 50_000.0)[1] is not None
    assert check(sig(unit="rpm"), -1500.0)[1] is None  # turning backwards is plausible
    assert check(sig(unit="pieces"), 1.5e9)[1] is None  # no range for this unit: the global bound only


def test_the_signals_own_bound_replaces_the_units() -> None:
    furnace = sig(unit="degC", max_value=3000.0)
    assert check(furnace, 2500.0) == (2500.0, None)  # the signal's max replaces the unit's 2000
    assert check(furnace, -300.0)[1] is not None  # the unit's lower bound still holds
    cold = sig(unit="degC", min_value=-300.0, max_value=5000.0)
    assert check(cold, -290.0) == (-290.0, None)
    assert check(cold, 6000.0) == (6000.0, "value 6000.0 above max_value 5000.0")


def test_the_readme_lists_every_units_range() -> None:
    from pathlib import Path

    from drivers.convert import _RANGES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for units, (lo, hi) in _RANGES.items():
        row = "| " + ", ".join(f"`{u}`" for u in units) + f" | {lo:g} | {hi:g} |"
        assert row in readme, f"README's 'Plausible ranges per unit' lacks: {row}"


def test_passes_integers_only_where_convert_leaves_every_integer_alone() -> None:
    from drivers.convert import UNIT_RANGES, passes_integers

    edge = [0, 1, -1, 65535, -32768, 2**31 - 1, -(2**31), 2**63 - 1, 2**64 - 1, -(2**63), 10**16]
    cases = [sig(), sig(unit="pcs"), sig(unit="rpm"), sig(unit="%"), sig(scale=2.0), sig(offset=-1.0),
             sig(min_value=0), sig(max_value=1000), sig(unit="degC", min_value=-50.0, max_value=50.0)]
    for s in cases:
        identity = all(convert(s, i) == (i, None) and type(convert(s, i)[0]) is int for i in edge)
        assert passes_integers(s) is (s.scale == 1.0 and s.offset == 0.0 and s.min_value is None
                                      and s.max_value is None and s.unit not in UNIT_RANGES)
        if passes_integers(s):
            assert identity
    assert passes_integers(sig()) and passes_integers(sig(unit="pcs")) and not passes_integers(sig(unit="rpm"))
