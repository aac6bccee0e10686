"""`werkvloer simulate history`: closed KPI periods, stops with reasons,
alerts and the baseline/pilot marks, written once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from appliance.alerts import AlertStore
from appliance.kpi.baseline import baseline_report
from appliance.kpi.calendar import ShiftCalendar
from appliance.kpi.queries import get_periods, list_stops, period_rows
from appliance.storage import open_db
from tests.conftest import ROOT

from .conftest import _env, box_config, write_box_toml

NS = 1_000_000_000


def test_history_fills_closed_periods_once(tmp_path: Path) -> None:
    cfg = box_config(tmp_path / "box", url=None)
    cfg_file = write_box_toml(tmp_path / "box.toml", cfg)
    cmd = [sys.executable, "-m", "appliance.cli", "simulate", "history", "--config", str(cfg_file),
           "--days", "14", "--pilot-from-day", "7"]
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "wrote 14 days" in out.stdout

    db = open_db(cfg.db_path)
    cal = ShiftCalendar(cfg.machine, cfg.box.timezone)
    periods = get_periods(db)
    base, pilot = periods["baseline"], periods["pilot"]
    assert base and pilot and base[1] == pilot[0]
    days = period_rows(db, calendar=cal, start_ns=base[0], end_ns=pilot[1], granularity="day")
    assert len(days) >= 14 and all(d.oee is not None and 0 < d.oee < 1 for d in days if d.pot_s > 3600)
    shifts = period_rows(db, calendar=cal, start_ns=base[0], end_ns=pilot[1], granularity="shift")
    assert {s.period.split("/")[1] for s in shifts} == {"vroeg", "laat"}
    stops = list_stops(db, start_ns=base[0], end_ns=pilot[1])
    assert stops and any(s.reason for s in stops) and any(s.reason is None for s in stops)
    alerts = AlertStore(db).list(source="guard")
    assert alerts and {a.label for a in alerts} <= {"true", "false"}
    report = baseline_report(db, calendar=cal)
    oee = next(k for k in report.kpis if k.kpi == "oee")
    assert oee.pilot is not None and oee.baseline is not None and oee.pilot > oee.baseline  # simulated as better
    db.conn.close()

    again = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already holds KPI data" in again.stderr
