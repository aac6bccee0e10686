"""The coordinator's KPI page with a baseline and a pilot period marked (in-process app, real SQLite)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.testclient import TestClient

from appliance.database import open_box_db
from appliance.kpi import queries as kpi_queries
from appliance.kpi.calendar import ShiftCalendar

from .helpers import admin_client
from .test_security import _csrf


def _admin(box_config: Any) -> TestClient:
    return admin_client(box_config)  # type: ignore[no-any-return]


def test_kpi_page_renders_with_baseline_and_pilot_marked(box_config: Any) -> None:
    c = _admin(box_config)
    for kind, start, end in (("baseline", "2026-10-01", "2026-10-14"), ("pilot", "2026-11-01", "2026-11-14")):
        r = c.post("/api/v1/kpi/periods/mark", json={"kind": kind, "start": start, "end": end},
                   headers={"X-CSRF-Token": _csrf(c.get("/kpis").text)})
        assert r.status_code in (200, 201), r.text
    page = c.get("/kpis")
    assert page.status_code == 200, page.text[:500]
    assert "95%-interval" in page.text  # the column header, not a %-format error
    assert 'action="/kpis/period"' in page.text  # the period form is there, so the periods can be changed


def test_last_nanosecond_of_a_day_is_that_day(box_config: Any) -> None:
    cal = ShiftCalendar(box_config.machine, box_config.box.timezone)
    day = dt.date(2026, 10, 14)
    start, end = cal.day_bounds(day)
    assert cal.local_date(end - 1) == day
    assert cal.local_date(end) == day + dt.timedelta(days=1)
    assert cal.local_date(start) == day


def test_baseline_of_days_without_data_does_not_count_the_next_day(box_config: Any) -> None:
    """The baseline (no data) ends the day before the pilot starts: the pilot's first day is not in it."""
    cal = ShiftCalendar(box_config.machine, box_config.box.timezone)
    db = open_box_db(box_config.db_path)
    try:
        pilot_day = dt.date(2026, 11, 1)
        with db.conn:
            db.conn.execute("INSERT INTO kpi_day(day, sched, run_s, pq, gq) VALUES (?, 1, 3000, 100, 90)",
                            [pilot_day.isoformat()])
        rows = kpi_queries.period_rows(db, calendar=cal, start_ns=cal.day_bounds(dt.date(2026, 10, 25))[0],
                                     end_ns=cal.day_bounds(pilot_day)[0], granularity="day")
        assert [r.period for r in rows] == []
    finally:
        db.conn.close()


def _seeded_admin(box_config: Any) -> TestClient:
    from .helpers import seed_stops

    seed_stops(box_config, box_config.db_path)
    return _admin(box_config)


def test_dutch_excel_export_is_readable(box_config: Any) -> None:
    c = _seeded_admin(box_config)
    text = c.get("/api/v1/kpi/export?format=csv-nl&granularity=hour").text.removeprefix("\ufeff")
    header, *lines = text.strip().split("\r\n")
    assert lines, text
    assert "pot_s" not in header and "Geplande tijd (u)" in header and "OEE (%)" in header
    import re

    assert not re.search(r"\d[.,]\d{5,}", text), "long floats in the export"
    assert re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d", lines[0].split(";")[1])
    # The plain CSV keeps the API's machine names and exact numbers.
    assert c.get("/api/v1/kpi/export?format=csv&granularity=hour").text.startswith("period,start,end,")


def test_export_leaves_energy_empty_without_a_meter(box_config: Any) -> None:
    cfg = box_config.model_copy(update={"machine": box_config.machine.model_copy(update={"energy_signal": None})})
    c = _seeded_admin(cfg)
    text = c.get("/api/v1/kpi/export?format=csv-nl&granularity=hour").text.removeprefix("\ufeff")
    header, *lines = text.strip().split("\r\n")
    i = header.split(";").index("Energie (kWh)")
    assert lines and all(line.split(";")[i] == "" for line in lines)
