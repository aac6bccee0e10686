"""The hub's effect estimate (staggered difference-in-differences with a firm bootstrap) equals
its definition written out as plain loops, on synthetic firms with gaps, missing days, a cohort
that starts in the first week and firms that never start a pilot."""

from __future__ import annotations

import math
import random

import pytest

from sync.hub import analysis
from sync.hub.analysis import WEEK_S, Firm, FirmDay, did_effect

T0 = 1_767_225_600


def firms_of(n: int, days: int, seed: int) -> list[Firm]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        f = Firm(f"loan-{i}", f"box-{i}", "25", "10-49", T0)
        start = T0 + rng.choice([0, *range(21, 200)]) * 86_400 if i % 3 else None
        for d in range(days):
            if rng.random() < 0.05:
                continue  # a day without a row
            t = T0 + d * 86_400
            phase = "pilot" if start is not None and t >= start else "baseline" if d < 60 else "none"
            oee = rng.uniform(0.45, 0.8) * (1.08 if phase == "pilot" else 1.0)
            f.days.append(FirmDay(t, phase, None if rng.random() < 0.02 else oee, oee, 0.9, 0.99))
        out.append(f)
    return out


def reference_att(series: dict[str, dict[int, float]], cohort: dict[str, int | None], sample: list[str]) -> float | None:
    """ATT(g, t) per cohort g and week t >= g against the not yet treated, weighted by the cohort's firms."""
    weeks = sorted({w for x in sample for w in series[x]})
    if not weeks:
        return None
    total = weight = 0.0
    for g in sorted({cohort[x] for x in sample if cohort[x] is not None}):  # type: ignore[type-var]
        base = g - 1  # type: ignore[operator]
        for t in range(g, weeks[-1] + 1):  # type: ignore[call-overload]
            have = [x for x in sample if t in series[x] and base in series[x]]
            treated = [series[x][t] - series[x][base] for x in have if cohort[x] == g]
            control = [series[x][t] - series[x][base] for x in have
                       if cohort[x] is None or cohort[x] > t]  # type: ignore[operator]
            if treated and control:
                total += (sum(treated) / len(treated) - sum(control) / len(control)) * len(treated)
                weight += len(treated)
    return total / weight if weight else None


def pct(v: float | None) -> float | None:
    return None if v is None else (math.exp(v) - 1) * 100


def reference_effect(firms: list[Firm], resamples: int = 200, seed: int = 2021) -> dict[str, float | None]:
    rng = random.Random(seed)
    loans = [f.loan for f in firms]
    out: dict[str, float | None] = {}
    for level in (False, True):
        series, cohort = analysis._weekly(firms, level)
        est = reference_att(series, cohort, loans)
        draws = []
        for _ in range(resamples if est is not None else 0):
            sample = [rng.choice(loans) for _ in loans]
            s2 = {f"{x}#{i}": series[x] for i, x in enumerate(sample)}  # a firm drawn twice counts twice
            c2 = {f"{x}#{i}": cohort[x] for i, x in enumerate(sample)}
            v = reference_att(s2, c2, list(s2))
            if v is not None:
                draws.append(v)
        draws.sort()
        lo = draws[int(0.025 * (len(draws) - 1))] if draws else None
        hi = draws[int(0.975 * (len(draws) - 1))] if draws else None
        keys = ("points", "points_low", "points_high") if level else ("log_att", "log_low", "log_high")
        out.update(zip(keys, (est, lo, hi), strict=True))
    return out


@pytest.mark.parametrize(("n", "days", "seed"), [(16, 120, 1), (30, 200, 2), (3, 40, 3), (1, 10, 4)])
def test_the_effect_equals_its_definition(n: int, days: int, seed: int) -> None:
    firms = firms_of(n, days, seed)
    got, want = did_effect(firms), reference_effect(firms)
    pairs = [(got["points"], want["points"]), (got["points_low"], want["points_low"]),
             (got["points_high"], want["points_high"]), (got["log_att"], want["log_att"]),
             (got["relative_pct_low"], pct(want["log_low"])), (got["relative_pct_high"], pct(want["log_high"]))]
    for a, b in pairs:
        assert (a is None) == (b is None), (got, want)
        if a is not None:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), (got, want)
    if n >= 16:
        assert got["points"] is not None and got["points_low"] < got["points"] < got["points_high"]


def test_no_firms_no_effect() -> None:
    e = did_effect([])
    assert e["firms"] == 0 and e["log_att"] is None and e["points_low"] is None
    assert WEEK_S == 7 * 86_400
