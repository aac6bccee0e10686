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
