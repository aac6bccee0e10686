"""The hourly period rows (the fast path in ``queries.period_rows``) against the definition written out:
every hour's planned sums and outside-shift sums folded in Python from the raw ``kpi_hour`` rows, one
``KpiRow`` built by keyword and derived, labelled with ``datetime.isoformat`` in the box's time zone.
On a real SQLite history written by ``apply_delta`` minute by minute over days with a DST change,
breaks, stops spanning hours and a start in the middle of an hour."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from appliance.database import open_box_db
from appliance.kpi.buckets import apply_delta
from appliance.kpi.calendar import MINUTE_NS, NS, ShiftCalendar
from appliance.kpi.config import MachineConfig
from appliance.kpi.oee import KpiRow
from appliance.kpi.queries import period_rows
from appliance.kpi.schema import COLS, HOUR_NS
from appliance.storage import raw_conn, write_tx

from .helpers import utc_ns

SHIFTS = [{"name": "vroeg", "start": "06:00", "end": "14:00", "breaks": ["10:00-10:15"]},
          {"name": "nacht", "start": "22:00", "end": "06:00", "breaks": ["02:30-02:45"]}]


def _history(db, cal: ShiftCalendar, start: int, days: int) -> None:
    stops = []
    with write_tx(db) as conn:
        for i, minute in enumerate(range(start, start + days * 86_400 * NS, MINUTE_NS)):
            sched, inst = cal.minute_info(minute)
            # a stop of 35 min every 5 h, starting at :50 so it spans the hour; scrap now and then
            down = i % 300 >= 265
            d = {"down_s": 60.0} if down else {"run_s": 59.5, "idle_s": 0.5, "pq": 5 + i % 3, "gq": 5 + i % 3 - (i % 17 == 0),
                                               "ideal_s": (5 + i % 3) * 10.0, "energy_kwh": 0.07 + (i % 5) / 100}
            if not down:
                d["sq"] = d["pq"] - d["gq"]
            if i % 97 == 0:
                d.update(micro_n=1, micro_s=12.5)
            apply_delta(conn, minute, d, sched=sched, shift=inst, day=cal.day_key(minute))
            if i % 300 == 265:
                stops.append((minute, minute + 35 * MINUTE_NS, 2100.0, int(sched), cal.day_key(minute),
                              inst.key if inst else None))
        conn.executemany("INSERT INTO kpi_stops(start_ts, end_ts, dur_s, state, micro, sched, day, shift_key, "
                         "planned) VALUES (?, ?, ?, 'down', 0, ?, ?, ?, 0)", stops)


def _reference(conn, cal: ShiftCalendar, start_ns: int, end_ns: int) -> list[KpiRow]:
    start_ns -= start_ns % HOUR_NS
    by_hour: dict[int, dict[int, tuple]] = {}
    for ts, sched, *vals in conn.execute(f"SELECT ts, sched, {', '.join(COLS)} FROM kpi_hour "
                                         "WHERE ts >= ? AND ts < ?", [start_ns, end_ns]):
        by_hour.setdefault(ts, {})[sched] = tuple(vals)
    fails: dict[int, list] = {}
    for s0, dur in conn.execute("SELECT start_ts, dur_s FROM kpi_stops WHERE start_ts >= ? AND start_ts < ? AND "
                                "end_ts IS NOT NULL AND micro = 0 AND planned = 0 AND sched = 1", [start_ns, end_ns]):
        f = fails.setdefault(s0 - s0 % HOUR_NS, [0, 0.0])
        f[0] += 1
        f[1] += dur
    out = []
    for ts in sorted(by_hour):
        # SQLite's sum over the hour's rows: the planned row's value (0.0 + x), or integer 0 when there is none
        p = [0.0 + x for x in by_hour[ts][1]] if 1 in by_hour[ts] else [0] * len(COLS)
        o = by_hour[ts].get(0)
        outside = [0.0 + o[COLS.index(c)] for c in ("run_s", "pq", "energy_kwh")] if o else [0, 0, 0]
        v = dict(zip(COLS, p, strict=True))
        n, fdown = fails.get(ts, (0, 0.0))
        out.append(KpiRow(dt.datetime.fromtimestamp(ts / NS, cal.tz).isoformat(timespec="minutes"), ts, ts + HOUR_NS,
                          pot_s=v["run_s"] + v["idle_s"] + v["down_s"] + v["pdown_s"] + v["setup_s"] + v["nodata_s"],
                          pdot_s=v["pdown_s"], nodata_s=v["nodata_s"], apt_s=v["run_s"], setup_s=v["setup_s"],
                          down_s=v["down_s"], idle_s=v["idle_s"], micro_n=int(round(v["micro_n"])),
                          micro_s=v["micro_s"], pq=v["pq"], gq=v["gq"], sq=v["sq"], ideal_s=v["ideal_s"],
                          energy_kwh=v["energy_kwh"], failures=n, failure_down_s=fdown,
                          outside_shift_run_s=outside[0], outside_shift_pq=outside[1],
                          outside_shift_energy_kwh=outside[2]).derive())
    return out


@pytest.mark.parametrize(("first_day", "tz"), [
    ("2026-10-23T00:00", "Europe/Amsterdam"),  # 25 Oct: 03:00 CEST -> 02:00 CET (the 02:00 hour twice)
    ("2026-03-27T00:00", "Europe/Amsterdam"),  # 29 Mar: 02:00 CET -> 03:00 CEST
    ("2026-04-01T00:00", "Asia/Kolkata"),  # a half-hour offset: local labels at :30
])
def test_hour_rows_equal_the_definition(tmp_path, first_day, tz):
    cal = ShiftCalendar(MachineConfig(shifts=SHIFTS), tz)
    db = open_box_db(tmp_path / "history.db")
    start = utc_ns(first_day)
    _history(db, cal, start, days=4)
    conn = raw_conn(db)
    for lo, hi in [(start, start + 4 * 86_400 * NS), (start + 90 * MINUTE_NS + 7, start + 50 * 3600 * NS + 1)]:
        got = period_rows(db, calendar=cal, start_ns=lo, end_ns=hi, granularity="hour")
        want = _reference(conn, cal, lo, hi)
        assert len(got) == len(want) > 24
        # identical, types included (an hour without planned time has integer 0 sums, as before)
        assert [json.dumps(r.as_dict()) for r in got] == [json.dumps(r.as_dict()) for r in want]
    labels = [r.period for r in period_rows(db, calendar=cal, start_ns=start, end_ns=start + 4 * 86_400 * NS,
                                            granularity="hour")]
    assert len(labels) == len(set(labels)) == 96
    if first_day.startswith("2026-10"):
        assert {"2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00"} <= set(labels)  # 02:00 twice, two offsets
    if tz == "Asia/Kolkata":
        assert labels[0] == "2026-04-01T05:30+05:30"
    assert sum(r.failures for r in got) > 0 and any(r.outside_shift_run_s for r in got)
