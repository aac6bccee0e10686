"""The KPI engine raises 'OEE below target' when a shift ends under target."""

from __future__ import annotations

import re

from appliance.alerts import AlertSink
from appliance.kpi.engine import KpiEngine
from tests.kpi.helpers import Feeder, box_config, utc_ns


def test_oee_below_target_for_a_shift(tmp_path):
    cfg = box_config(tmp_path, running_signal="running", counter_signal="part_count", ideal_cycle_s=10,
                     oee_target=0.6, flush_s=30,
                     shifts=[{"name": "ochtend", "start": "08:00", "end": "08:30"},
                             {"name": "middag", "start": "08:30", "end": "09:00"}])
    sink = AlertSink()
    eng = KpiEngine(cfg, cfg.db_path, alert_sink=sink, clock_synced=lambda: True)
    f = Feeder(eng, None, utc0=utc_ns("2026-06-09T06:00"), step_s=5)  # 08:00 local, a Tuesday
    f.values = {"running": True, "part_count": 0}
    f.emit()
    t = 0
    while t < 3600 + 60:
        t += 5
        # first shift: runs only the first 10 of 30 minutes (OEE about 0.33); second: runs all the time
        f.values["running"] = t < 600 or t >= 1800
        if f.values["running"] and t % 10 == 0:
            f.values["part_count"] += 1
        f.run_until(t)
    items = [i for i in sink.drain() if i["kind"] == "oee_below_target"]
    assert [i["dedupe_key"] for i in items] == ["kpi:oee:2026-06-09/ochtend"]
    assert items[0]["source"] == "kpi" and items[0]["evidence"]["oee"] < 0.6
    detail = items[0]["detail"]  # in both languages, Dutch with a decimal comma (issue 15)
    assert re.match(r"beschikbaarheid \d+,\d %, prestatie \d+,\d %, kwaliteit \d+,\d %; zonder gegevens \d+ min$",
                    detail["nl"]), detail["nl"]
    assert detail["en"].startswith("availability ") and "no data" in detail["en"]
