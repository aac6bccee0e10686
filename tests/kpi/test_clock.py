"""A clock that jumps (a Pi without RTC at boot) must not corrupt periods."""

from __future__ import annotations

import json

import pytest

from appliance.alerts import AlertStore
from appliance.kpi.calendar import NS
from appliance.kpi.engine import KpiEngine
from appliance.kpi.queries import kpi_total
from tests.kpi.helpers import Feeder, box_config, utc_ns

TRUE_T = utc_ns("2026-06-03T08:00")


def _engine(tmp_path, synced, **machine):
    cfg = box_config(tmp_path, running_signal="running", counter_signal="part_count", flush_s=5, **machine)
    return KpiEngine(cfg, cfg.db_path, clock_synced=lambda: synced["ok"])


def _running(eng, utc0=TRUE_T):
    """A feeder of one sample a second; the machine starts running at ``utc0``."""
    f = Feeder(eng, None, utc0=utc0, step_s=1)
    f.values = {"running": True, "part_count": 0}
    f.emit()
    return f


def _feed_boot(eng, synced, wrong_utc):
    f = _running(eng, wrong_utc)
    for i in range(1, 301):  # 300 s on the wrong clock, a part every 10 s
        if i % 10 == 0:
            f.values["part_count"] += 1
        f.run_until(i)
    assert eng.conn.execute("SELECT count(*) FROM kpi_minute").fetchone()[0] == 0  # held until NTP sync
    f.jump((TRUE_T - f.utc) / NS)  # NTP sets the clock: it is TRUE_T now
    synced["ok"] = True
    f.values["running"] = False
    f.run_until(600)
    eng.flush(force=True)
    return f


@pytest.mark.parametrize("wrong", ["2026-01-01T00:00", "2026-06-06T12:00"], ids=["forward", "backward"])
def test_clock_jump_at_boot(tmp_path, wrong):
    synced = {"ok": False}
    eng = _engine(tmp_path, synced)
    wrong_utc = utc_ns(wrong) - 300 * NS
    _feed_boot(eng, synced, wrong_utc)
    # Everything lands on the corrected clock: started at TRUE_T - 300 s, ran until the first
    # "not running" sample at 301 s, then down until 600 s
    tot = kpi_total(eng.conn, calendar=eng.calendar, start_ns=TRUE_T - 3600 * NS, end_ns=TRUE_T + 3600 * NS)
    assert tot.apt_s == pytest.approx(301) and tot.down_s == pytest.approx(299)
    assert tot.pq == 30
    everything = eng.conn.execute("SELECT sum(run_s + down_s + nodata_s) FROM kpi_minute").fetchone()[0]
    assert everything == pytest.approx(600)  # nothing at the wrong time
    first = eng.conn.execute("SELECT min(start_ts), max(end_ts) FROM kpi_state").fetchone()
    assert first == (TRUE_T - 300 * NS, TRUE_T + 300 * NS)
    ev = [json.loads(d) for (d,) in eng.conn.execute("SELECT detail FROM box_events WHERE kind = 'clock_jump'")]
    assert len(ev) == 1 and ev[0]["delta_s"] == pytest.approx((TRUE_T - utc_ns(wrong)) / NS)
    alerts = AlertStore(eng.conn).list(source="box")
    assert [a.kind for a in alerts] == ["clock_jump"]
    detail = json.loads(alerts[0].detail)  # in both languages (issue 15)
    assert detail["nl"].startswith("De klok van de box is verzet") and detail["en"].startswith("The box's clock")


def test_clock_jump_while_running_keeps_durations(tmp_path):
    synced = {"ok": True}
    eng = _engine(tmp_path, synced)
    f = _running(eng)
    f.run_until(300)
    f.jump(-7200)  # a wrong NTP server, or a person setting the clock
    f.run_until(600)
    eng.flush(force=True)
    rows = eng.conn.execute("SELECT start_ts, end_ts, dur_s FROM kpi_state ORDER BY id").fetchall()
    # the interval is split at the jump; each part keeps its monotonic duration, none negative
    assert [r[2] for r in rows] == [pytest.approx(300), pytest.approx(300)]
    assert rows[0][0] == TRUE_T and rows[1][0] == TRUE_T + 300 * NS - 7200 * NS
    assert all(end >= start for start, end, _ in rows)
    assert eng.conn.execute("SELECT sum(run_s) FROM kpi_minute").fetchone()[0] == pytest.approx(600)
    assert eng.clock_jumps == 1


def test_writes_not_held_forever_without_ntp(tmp_path):
    synced = {"ok": False}
    eng = _engine(tmp_path, synced, clock_hold_s=120)
    f = _running(eng)
    f.run_until(119)
    assert eng.conn.execute("SELECT count(*) FROM kpi_minute").fetchone()[0] == 0
    f.run_until(130)
    assert eng.conn.execute("SELECT sum(run_s) FROM kpi_minute").fetchone()[0] == pytest.approx(130)


def test_restart_fills_the_gap_with_no_data(tmp_path):
    synced = {"ok": True}
    eng = _engine(tmp_path, synced)
    f = _running(eng)
    f.run_until(100)
    eng.stop()
    # the box is off for 10 minutes; a new engine (new boot: monotonic restarts near 0)
    eng2 = _engine(tmp_path, synced)
    f2 = Feeder(eng2, None, utc0=TRUE_T + 700 * NS, step_s=1, mono0=3 * NS)
    f2.values = {"running": True, "part_count": 0}
    f2.emit()
    f2.run_until(100)
    eng2.flush(force=True)
    tot = kpi_total(eng2.conn, calendar=eng2.calendar, start_ns=TRUE_T, end_ns=TRUE_T + 3600 * NS)
    # run 100 s, no-data 600 s (box off), run 100 s
    assert tot.apt_s == pytest.approx(200) and tot.nodata_s == pytest.approx(600)
