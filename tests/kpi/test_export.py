"""Exports: CSV (also Dutch Excel), JSON and `werkvloer export`; re-read equals the query functions."""

from __future__ import annotations

import json

import pytest

from appliance.cli import main as werkvloer
from appliance.config import load_config
from appliance.kpi.calendar import NS
from appliance.kpi.engine import KpiEngine
from appliance.kpi.export import export_rows, read_csv, to_csv
from appliance.kpi.queries import period_rows
from tests.kpi.helpers import Feeder, utc_ns


def main(argv: list[str]) -> int:
    """``werkvloer export ...`` as a person runs it (``appliance.cli`` hands the area its config loader)."""
    return werkvloer(["export", *argv])


T0 = utc_ns("2026-06-08T04:00")  # Monday 06:00 local

CONFIG = """
[box]
data_dir = "{data}"

[[sources.modbus]]
name = "plc"
host = "127.0.0.1"
port = 5020
signals = [
  {{ name = "running", table = "coil", type = "bool", address = 0 }},
  {{ name = "part_count", type = "uint32", address = 4 }},
  {{ name = "scrap_count", type = "uint32", address = 8 }},
]

[machine]
running_signal = "running"
counter_signal = "part_count"
scrap_signal = "scrap_count"
ideal_cycle_s = 9.0
flush_s = 60
shifts = [
  {{ name = "vroeg", start = "06:00", end = "14:00", breaks = ["10:00-10:15"] }},
  {{ name = "laat", start = "14:00", end = "22:00" }},
]
"""


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    path = tmp / "box.toml"
    path.write_text(CONFIG.format(data=tmp), encoding="utf-8")
    cfg = load_config(path)
    eng = KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)
    f = Feeder(eng, None, utc0=T0, step_s=5)
    f.values = {"running": True, "part_count": 0, "scrap_count": 0}
    f.emit()
    t = 0
    while t < 10 * 3600:  # 06:00 -> 16:00 local: a part every 10 s, scrap every 37th, a stop each 3rd hour
        t += 10
        hour = t // 3600
        stopped = hour % 3 == 2 and (t % 3600) < 900
        f.values["running"] = not stopped
        if not stopped:
            f.values["part_count"] += 1
            if f.values["part_count"] % 37 == 0:
                f.values["scrap_count"] += 1
        f.run_until(t)
    eng.flush(force=True)
    return path, cfg, eng


@pytest.mark.parametrize("granularity", ["hour", "shift", "day"])
@pytest.mark.parametrize("dutch", [False, True], ids=["csv", "csv-nl"])
def test_csv_reread_equals_query_functions(filled, granularity, dutch):
    _, cfg, eng = filled
    rows = period_rows(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 24 * 3600 * NS,
                       granularity=granularity)
    exported = export_rows(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 24 * 3600 * NS,
                           granularity=granularity)
    text = to_csv(exported, dutch=dutch)
    if dutch:
        assert text.startswith("\ufeffperiod;start;end;availability")
        assert ";0," in text  # decimal comma
    back = read_csv(text, dutch=dutch)
    assert len(back) == len(rows) > 0
    for r, b in zip(rows, back, strict=True):
        d = r.as_dict()
        assert b["period"] == r.period
        for k, v in b.items():
            if k in ("period", "start", "end"):
                continue
            assert v == (None if d[k] is None else pytest.approx(d[k], rel=1e-12, abs=1e-12)), k
    if granularity == "shift":
        assert [r.period for r in rows] == ["2026-06-08/vroeg", "2026-06-08/laat"]


def test_cli_export_formats(filled, tmp_path, capsys):
    path, cfg, eng = filled
    out = tmp_path / "day.csv"
    assert main(["--config", str(path), "--from", "2026-06-08", "--to", "2026-06-08", "--granularity", "day",
                 "--kpis", "oee,availability,performance,quality,gq", "--format", "csv-nl", "--out", str(out)]) == 0
    back = read_csv(out.read_text(encoding="utf-8"), dutch=True)
    day = period_rows(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 3600 * NS, granularity="day")[0]
    assert list(back[0]) == ["period", "start", "end", "oee", "availability", "performance", "quality", "gq"]
    assert back[0]["oee"] == pytest.approx(day.oee) and back[0]["gq"] == day.gq
    assert main(["--config", str(path), "--from", "2026-06-08T06:00", "--to", "2026-06-08T09:00",
                 "--granularity", "hour", "--kpis", "oee,pq", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["period"] for r in doc["rows"]] == ["2026-06-08T06:00+02:00", "2026-06-08T07:00+02:00",
                                                  "2026-06-08T08:00+02:00"]
    assert doc["meta"]["ratios"] == "fractions 0..1"


def test_cli_refuses_bad_input(filled, capsys):
    path, _, _ = filled
    assert main(["--config", str(path), "--from", "gisteren", "--to", "2026-06-08"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["--config", str(path), "--from", "2026-06-08", "--to", "2026-06-08", "--kpis", "geluk"]) == 2
    assert "unknown KPI" in capsys.readouterr().err
    assert main(["--config", str(path) + ".missing", "--from", "2026-06-08", "--to", "2026-06-08"]) == 2
