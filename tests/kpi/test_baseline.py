"""Baseline versus pilot with a seeded synthetic history; ROI estimate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from appliance.database import open_box_db
from appliance.errors import PermissionDenied
from appliance.kpi.baseline import baseline_report, compare_days, roi_estimate
from appliance.kpi.buckets import apply_delta
from appliance.kpi.calendar import MINUTE_NS, ShiftCalendar
from appliance.kpi.commands import mark_period, set_roi_inputs
from appliance.kpi.config import MachineConfig
from appliance.kpi.queries import get_periods
from appliance.storage import write_tx

SHIFT = {"name": "dag", "start": "07:00", "end": "15:00"}


def synth_history(db, cal: ShiftCalendar, first: dt.date, days: int, gph: float, rng: np.random.Generator) -> None:
    """Working days of 8 planned hours; good parts per hour ~ N(gph, 6%); A ~ 0.80 +- 0.04."""
    with write_tx(db) as conn:
        d = first
        n = 0
        while n < days:
            if d.weekday() < 5:
                inst = cal.shifts_on(d)[0]
                minute = inst.start_ns + 3600 * 10**9 - (inst.start_ns % MINUTE_NS)
                a = rng.normal(0.80, 0.04)
                good_ph = rng.normal(gph, 0.06 * gph)
                apt = 28800 * a
                gq = round(good_ph * 8)
                pq = gq + int(rng.integers(0, 8))
                apply_delta(conn, minute, {"run_s": apt, "down_s": 28800 - apt, "pq": pq, "gq": gq, "sq": pq - gq,
                                           "ideal_s": pq * 20.0, "energy_kwh": 40 + rng.normal(0, 2)},
                            sched=True, shift=inst, day=d.isoformat())
                n += 1
            d += dt.timedelta(days=1)


def _setup(tmp_path, pilot_gph, seed):
    cal = ShiftCalendar(MachineConfig(shifts=[SHIFT]), "Europe/Amsterdam")
    db = open_box_db(tmp_path / "w.db")
    rng = np.random.default_rng(seed)
    synth_history(db, cal, dt.date(2026, 2, 2), 20, 100.0, rng)  # baseline: 4 weeks from Mon 2 Feb
    synth_history(db, cal, dt.date(2026, 4, 6), 20, pilot_gph, rng)  # pilot: 4 weeks from Mon 6 Apr
    b0, _ = cal.day_bounds(dt.date(2026, 2, 2))
    _, b1 = cal.day_bounds(dt.date(2026, 2, 27))
    p0, _ = cal.day_bounds(dt.date(2026, 4, 6))
    _, p1 = cal.day_bounds(dt.date(2026, 5, 1))
    mark_period(db, kind="baseline", start_ns=b0, end_ns=b1, role="coordinator")
    mark_period(db, kind="pilot", start_ns=p0, end_ns=p1, role="coordinator", note="na SMED-training")
    return db, cal


def test_real_improvement_has_an_interval_excluding_zero(tmp_path):
    db, cal = _setup(tmp_path, pilot_gph=120.0, seed=7)
    rep = baseline_report(db, calendar=cal, resamples=2000, seed=1)
    assert (rep.baseline_days, rep.pilot_days) == (20, 20)
    gph = next(k for k in rep.kpis if k.kpi == "good_per_hour")
    assert 15 < gph.change_pct < 25
    assert gph.ci_low_pct > 0 and gph.ci_high_pct > gph.change_pct > gph.ci_low_pct
    assert gph.significant and gph.improved
    # same seed -> same interval
    again = next(k for k in baseline_report(db, calendar=cal, seed=1).kpis if k.kpi == "good_per_hour")
    assert (again.ci_low_pct, again.ci_high_pct) == (gph.ci_low_pct, gph.ci_high_pct)
    # the report's totals are ratio-of-sums of the day rows
    assert rep.pilot_total.good_per_hour == pytest.approx(gph.pilot)

    set_roi_inputs(db, role="coordinator", value_per_hour_eur=85.0, hours_per_year=1800, investment_eur=12_000)
    roi = roi_estimate(rep, db=db)
    assert "Schatting" in roi.label and "Estimate" in roi.label
    # hours saved = 1800 h x (1 - base/pilot); value = hours x 85 EUR
    assert roi.hours_saved_per_year == pytest.approx(1800 * (1 - gph.baseline / gph.pilot))
    assert roi.value_per_year_eur == pytest.approx(roi.hours_saved_per_year * 85)
    assert roi.value_per_year_low_eur < roi.value_per_year_eur < roi.value_per_year_high_eur
    assert roi.payback_years == pytest.approx(12_000 / roi.value_per_year_eur)
    assert roi.extra_good_parts_per_year == pytest.approx((gph.pilot - gph.baseline) * 1800)


def test_no_change_has_an_interval_including_zero(tmp_path):
    db, cal = _setup(tmp_path, pilot_gph=100.0, seed=11)
    rep = baseline_report(db, calendar=cal, resamples=2000, seed=1)
    for k in rep.kpis:
        if k.kpi in ("good_per_hour", "oee", "availability"):
            assert k.ci_low_pct < 0 < k.ci_high_pct, k
            assert not k.significant and k.improved is False


def test_periods_are_coordinator_entries(tmp_path):
    db = open_box_db(tmp_path / "w.db")
    with pytest.raises(PermissionDenied):
        mark_period(db, kind="pilot", start_ns=1, end_ns=2, role="maintenance")
    with pytest.raises(ValueError, match="end after"):
        mark_period(db, kind="pilot", start_ns=5, end_ns=2, role="coordinator")
    mark_period(db, kind="pilot", start_ns=1, end_ns=2, role="coordinator")
    mark_period(db, kind="pilot", start_ns=3, end_ns=4, role="admin")
    assert get_periods(db) == {"baseline": None, "pilot": (3, 4)}
    assert db.execute("SELECT count(*) FROM audit WHERE action = 'kpi.mark_period'").fetchone()[0] == 2


def test_compare_days_without_data_says_nothing():
    out = compare_days([], [], kpis=["oee"])
    assert out[0].change_pct is None and out[0].ci_low_pct is None and not out[0].significant
