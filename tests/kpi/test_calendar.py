"""Shift calendar: a night shift across midnight, breaks, non-working days, DST in Europe/Amsterdam."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.kpi.calendar import NS, ShiftCalendar
from appliance.kpi.config import MachineConfig
from appliance.kpi.engine import KpiEngine
from appliance.kpi.queries import period_rows
from tests.kpi.helpers import Feeder, box_config, utc_ns

NIGHT = {"name": "nacht", "start": "22:00", "end": "06:00", "days": [0, 1, 2, 3, 4, 5], "breaks": ["02:00-02:30"]}


def _engine(tmp_path, **machine):
    cfg = box_config(tmp_path, running_signal="running", no_data_after_s=30, flush_s=300, **machine)
    return KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)


def test_night_shift_across_midnight(tmp_path):
    eng = _engine(tmp_path, shifts=[NIGHT])
    start = utc_ns("2026-01-13T20:30")  # Tuesday 21:30 local (CET, UTC+1)
    f = Feeder(eng, None, utc0=start, step_s=10)
    f.values = {"running": True}
    f.emit()
    f.run_until(8390)
    f.values["running"] = False  # stop at 23:50 local ...
    f.run_until(9590)
    f.values["running"] = True  # ... until 00:10 local
    f.run_until(9 * 3600)  # until 06:30 local
    eng.flush(force=True)
    shifts = period_rows(eng.conn, calendar=eng.calendar, start_ns=start, end_ns=start + 10 * 3600 * NS,
                         granularity="shift")
    assert [s.period for s in shifts] == ["2026-01-13/nacht"]
    s = shifts[0]
    # planned: 22:00 -> 06:00 = 8 h minus the 30 min break = 27000 s; down 23:50 -> 00:10 = 1200 s
    # A = (27000 - 1200) / 27000 = 0.955556
    assert s.pot_s == pytest.approx(27000)
    assert s.down_s == pytest.approx(1200)
    assert s.availability == pytest.approx(0.955556, abs=0.001)
    assert s.failures == 1  # the stop starts on the 13th but belongs to this shift
    days = period_rows(eng.conn, calendar=eng.calendar, start_ns=start, end_ns=start + 10 * 3600 * NS,
                       granularity="day")
    assert [d.period for d in days] == ["2026-01-13", "2026-01-14"]
    # 13th: planned 22:00-24:00 = 7200 s (down 600 s), outside the shift 21:30-22:00 = 1800 s
    # 14th: planned 00:00-06:00 minus break = 19800 s (down 600 s); outside: break 1800 + 06:00-06:30 1800
    assert (days[0].pot_s, days[0].down_s, days[0].outside_shift_run_s) == (
        pytest.approx(7200), pytest.approx(600), pytest.approx(1800))
    assert (days[1].pot_s, days[1].down_s, days[1].outside_shift_run_s) == (
        pytest.approx(19800), pytest.approx(600), pytest.approx(3600))


@pytest.mark.parametrize(("start", "local_start", "hours", "labels"), [
    # last Sunday of March: 02:00 CET -> 03:00 CEST, the night shift lasts 7 h
    ("2026-03-28T21:00", "2026-03-28", 7, ["2026-03-29T01:00+01:00", "2026-03-29T03:00+02:00"]),
    # last Sunday of October: 03:00 CEST -> 02:00 CET, the night shift lasts 9 h
    ("2026-10-24T20:00", "2026-10-24", 9, ["2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00"]),
])
def test_dst_night_shift(tmp_path, start, local_start, hours, labels):
    shift = {"name": "nacht", "start": "22:00", "end": "06:00", "days": [5]}  # Saturday night
    eng = _engine(tmp_path, shifts=[shift])
    t0 = utc_ns(start)  # 22:00 local
    f = Feeder(eng, None, utc0=t0, step_s=10)
    f.values = {"running": True}
    f.emit()
    f.run_until(hours * 3600)
    eng.flush(force=True)
    rows = period_rows(eng.conn, calendar=eng.calendar, start_ns=t0 - 3600 * NS, end_ns=t0 + 12 * 3600 * NS,
                       granularity="shift")
    assert [r.period for r in rows] == [f"{local_start}/nacht"]
    assert rows[0].end_ts - rows[0].start_ts == hours * 3600 * NS
    assert rows[0].pot_s == pytest.approx(hours * 3600)
    assert rows[0].apt_s == pytest.approx(hours * 3600) and rows[0].availability == pytest.approx(1.0)
    hour_labels = [r.period for r in period_rows(eng.conn, calendar=eng.calendar, start_ns=t0,
                                                 end_ns=t0 + hours * 3600 * NS, granularity="hour")]
    assert len(hour_labels) == hours
    for label in labels:
        assert label in hour_labels
    # Sunday's planned part: 00:00 -> 06:00 local is 5 h (March) or 7 h (October) of real time
    sunday = period_rows(eng.conn, calendar=eng.calendar, start_ns=t0 + 3 * 3600 * NS, end_ns=t0 + 4 * 3600 * NS,
                         granularity="day")
    assert sunday[0].pot_s == pytest.approx((hours - 2) * 3600)


def test_calendar_breaks_and_non_working_days():
    m = MachineConfig(shifts=[{"name": "dag", "start": "07:00", "end": "15:30", "breaks": ["10:00-10:15", "12:30-13:00"]}],
                      non_working_days=["2026-04-27"])  # King's Day, a Monday
    cal = ShiftCalendar(m, "Europe/Amsterdam")

    def planned_minutes(day: str) -> int:
        d = dt.date.fromisoformat(day)
        lo, hi = cal.day_bounds(d)
        return sum(cal.minute_info(t)[0] for t in range(lo, hi, 60 * NS))

    assert planned_minutes("2026-04-28") == 8 * 60 + 30 - 45  # Tuesday: 8.5 h minus 45 min breaks
    assert planned_minutes("2026-04-27") == 0  # non-working day
    assert planned_minutes("2026-05-02") == 0  # Saturday (days default Monday..Friday)
    inst = cal.shift_at(utc_ns("2026-04-28T08:05"))  # 10:05 local, in the break
    assert inst is not None and inst.key == "2026-04-28/dag" and not inst.planned_at(utc_ns("2026-04-28T08:05"))


def test_no_shifts_means_every_minute_planned():
    cal = ShiftCalendar(MachineConfig(), "Europe/Amsterdam")
    planned, inst = cal.minute_info(utc_ns("2026-03-29T01:30"))
    assert planned and inst is not None and inst.key == "2026-03-29/24h"
    assert inst.end_ns - inst.start_ns == 23 * 3600 * NS  # the short DST day
