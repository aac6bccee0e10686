"""Downtime reasons: reason needed, assignment (also from another process's connection), split, Pareto, audit."""

from __future__ import annotations

import json

import pytest

from appliance.database import open_box_db
from appliance.errors import PermissionDenied
from appliance.kpi.calendar import NS
from appliance.kpi.commands import assign_reason, mark_period, split_stop
from appliance.kpi.engine import KpiEngine
from appliance.kpi.queries import (
    downtime_pareto,
    get_stop,
    kpi_total,
    list_stops,
    stops_needing_reason,
)
from appliance.kpi.reasons import ReasonTree
from tests.kpi.helpers import Feeder, box_config, utc_ns

T0 = utc_ns("2026-06-04T06:00")
H = 3600 * NS


def _run(tmp_path):
    cfg = box_config(tmp_path, running_signal="running", micro_stop_s=120, flush_s=30)
    eng = KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)
    f = Feeder(eng, None, utc0=T0, step_s=1)
    f.values = {"running": True}
    f.emit()
    # running [0,1000) down [1000,1300) running [1300,2000) down [2000,2060) (micro)
    # running [2060,3000) down [3000,3600) running [3600,4000]
    for until, running in ((999, False), (1299, True), (1999, False), (2059, True), (2999, False),
                           (3599, True), (4000, None)):
        f.run_until(until)
        if running is not None:
            f.values["running"] = running
    eng.flush(force=True)
    return eng, cfg


def test_reason_needed_assign_split_pareto(tmp_path):
    eng, cfg = _run(tmp_path)
    tree = ReasonTree.from_config(cfg.machine)
    ui = open_box_db(cfg.db_path)  # the UI process has its own connection
    need = stops_needing_reason(ui, micro_stop_s=120, tree=tree)
    assert sorted(round(s.dur_s) for s in need) == [300, 600]  # the 60 s micro-stop needs none
    s1, s2 = sorted(need, key=lambda s: s.start_ts)

    before = kpi_total(ui, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * H)
    # POT = 4000 s; down 300 + 60 + 600 = 960 s; APT = 3040 s; A = 3040 / 4000 = 0.76
    assert before.availability == pytest.approx(0.76, abs=0.001)

    # a break is planned downtime: it leaves planned busy time
    assign_reason(ui, stop_id=s1.id, reason="break", role="operator", calendar=eng.calendar, tree=tree)
    after = kpi_total(ui, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * H)
    # PBT = 4000 - 300 = 3700 s; A = 3040 / 3700 = 0.821622
    assert after.pdot_s == pytest.approx(300) and after.down_s == pytest.approx(660)
    assert after.availability == pytest.approx(0.821622, abs=0.001)
    assert after.failures == 1  # the planned stop is no failure

    # changeover counts as setup (ISO 22400 AUST): still a loss, but shown as setup
    assign_reason(ui, stop_id=s2.id, reason="setup.changeover", role="operator", calendar=eng.calendar, tree=tree)
    a2 = kpi_total(ui, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * H)
    assert a2.setup_s == pytest.approx(600) and a2.down_s == pytest.approx(60)
    assert a2.availability == pytest.approx(0.821622, abs=0.001)

    # the operator says: the first 200 s were changeover, then we waited for material
    first, second = split_stop(ui, stop_id=s2.id, at_ns=s2.start_ts + 200 * NS, role="operator")
    assert (round(first.dur_s), round(second.dur_s)) == (200, 400)
    assert second.reason == "setup.changeover" and second.split_from == s2.id
    assign_reason(ui, stop_id=second.id, reason="material.not_available", role="operator",
                  calendar=eng.calendar, tree=tree, comment="staal niet geleverd")
    a3 = kpi_total(ui, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * H)
    assert a3.setup_s == pytest.approx(200) and a3.down_s == pytest.approx(460)
    assert a3.pot_s == pytest.approx(4000)  # moving time between columns never changes the total

    pareto = downtime_pareto(ui, tree=tree, start_ns=T0, end_ns=T0 + 2 * H, lang="en")
    assert [(b["reason"], round(b["seconds"])) for b in pareto] == [
        ("material.not_available", 400), ("setup.changeover", 200), ("micro_stop", 60)]
    assert pareto[0]["label"] == "Waiting for material / Material not available"
    assert pareto[-1]["cumulative_share"] == pytest.approx(1.0)
    with_planned = downtime_pareto(ui, tree=tree, start_ns=T0, end_ns=T0 + 2 * H, include_planned=True)
    assert ("break", 300) in [(b["reason"], round(b["seconds"])) for b in with_planned]
    assert stops_needing_reason(ui, micro_stop_s=120) == []

    audit = ui.execute("SELECT role, action, target, detail FROM audit ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in audit] == [("operator", "kpi.assign_reason")] * 2 + [
        ("operator", "kpi.split_stop"), ("operator", "kpi.assign_reason")]
    assert json.loads(audit[-1][3])["comment"] == "staal niet geleverd"


def test_reason_for_an_open_stop_covers_the_whole_stop(tmp_path):
    cfg = box_config(tmp_path, running_signal="running", flush_s=10)
    eng = KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)
    tree = ReasonTree.from_config(cfg.machine)
    f = Feeder(eng, None, utc0=T0, step_s=1)
    f.values = {"running": True}
    f.emit()
    f.run_until(99)
    f.values["running"] = False
    f.run_until(200)  # down since 100 s, written up to 200 s
    stop = eng.status()["stop"]
    assert stop is not None and stop["id"] is not None
    ui = open_box_db(cfg.db_path)
    assign_reason(ui, stop_id=stop["id"], reason="maintenance.preventive", role="maintenance",
                  calendar=eng.calendar, tree=tree)
    f.run_until(399)
    f.values["running"] = True
    f.run_until(500)
    eng.flush(force=True)
    tot = kpi_total(ui, calendar=eng.calendar, start_ns=T0, end_ns=T0 + H)
    # the whole 300 s stop is planned maintenance, also what the engine wrote after the assignment
    assert tot.pdot_s == pytest.approx(300) and tot.down_s == 0
    assert tot.availability == pytest.approx(1.0)
    assert eng.status()["stop"] is None


def test_bad_user_input_is_refused(tmp_path):
    eng, cfg = _run(tmp_path)
    tree = ReasonTree.from_config(cfg.machine)
    stops = list_stops(eng.conn, start_ns=T0, end_ns=T0 + H)
    with pytest.raises(ValueError, match="unknown downtime reason"):
        assign_reason(eng.conn, stop_id=stops[0].id, reason="koffie", role="operator", calendar=eng.calendar, tree=tree)
    with pytest.raises(ValueError, match="does not exist"):
        assign_reason(eng.conn, stop_id=999, reason="break", role="operator", calendar=eng.calendar, tree=tree)
    with pytest.raises(ValueError, match="inside the stop"):
        split_stop(eng.conn, stop_id=stops[0].id, at_ns=stops[0].end_ts + NS, role="operator")
    with pytest.raises(ValueError, match="unknown role"):
        split_stop(eng.conn, stop_id=stops[0].id, at_ns=stops[0].start_ts + NS, role="boss")
    with pytest.raises(PermissionDenied):
        mark_period(eng.conn, kind="baseline", start_ns=T0, end_ns=T0 + H, role="operator")
    assert get_stop(eng.conn, stops[0].id).reason is None


def test_reason_tree_default_and_replacement(tmp_path):
    tree = ReasonTree()
    assert tree.get("breakdown.hydraulic").planned is False
    assert tree.get("maintenance.preventive").planned is True
    assert tree.get("setup.changeover").setup is True
    assert tree.get("break").label("nl") == "Pauze"
    groups = {g["code"] for g in tree.as_dicts()}
    assert {"setup", "material", "operator", "breakdown", "maintenance", "quality", "break", "meeting",
            "no_orders"} <= groups
    cfg = box_config(tmp_path, reasons=[{"code": "stoomstoring", "nl": "Stoom weg", "en": "No steam"}])
    own = ReasonTree.from_config(cfg.machine)
    assert own.codes() == ["stoomstoring"]
    with pytest.raises(ValueError):
        own.get("break")
