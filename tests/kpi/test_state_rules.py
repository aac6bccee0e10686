"""Which signals decide the state; no-data (gaps, BAD, STALE); counters that wrap or reset."""

from __future__ import annotations

import json

import pytest

from appliance.kpi.calendar import NS
from appliance.kpi.engine import KpiEngine
from appliance.kpi.queries import kpi_total
from drivers.samples import Quality
from models.training.machine import MachineState, TimelineStep
from tests.kpi.helpers import PRODUCTS, SIM_CODES, Feeder, box_config, fast_sim, utc_ns

T0 = utc_ns("2026-06-02T10:00")
R = MachineState.RUNNING


def _engine(tmp_path, **machine):
    machine.setdefault("flush_s", 60)
    cfg = box_config(tmp_path, **machine)
    return KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)


def _total(eng, hours=2):
    eng.flush(force=True)
    return kpi_total(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + hours * 3600 * NS)


def test_no_data_gap_is_not_running_nor_down(tmp_path):
    sim = fast_sim([TimelineStep(0, state=R, product=1)])
    eng = _engine(tmp_path, state_signal="machine_state", state_codes=SIM_CODES, counter_signal="part_count",
                  product_signal="product_id", products=PRODUCTS, no_data_after_s=10)
    f = Feeder(eng, sim, utc0=T0)
    f.emit()
    f.run_until(605)
    f.run_until(905, silent=True)  # the PLC does not answer for 300 s; the machine keeps running
    f.run_until(1790)
    tot = _total(eng)
    # running [0, 615): the value at 605 s is trusted for no_data_after_s = 10 s
    # no_data [615, 906): 291 s; running [906, 1790]: 884 s
    # APT = 615 + 884 = 1499 s; POT = 1790 s; PBT = POT - no-data = 1499 s -> A = 1.0
    assert tot.nodata_s == pytest.approx(291)
    assert tot.apt_s == pytest.approx(1499)
    assert tot.down_s == 0 and tot.idle_s == 0
    assert tot.availability == pytest.approx(1.0)
    assert tot.no_data_share == pytest.approx(291 / 1790)
    # parts at 12 s: 50 seen before the gap (12..600 s), 25 made during it (612..900 s) appear at 906 s,
    # 74 after (912..1788 s): PQ = 149. The 25 catch-up parts are not in performance (time not observed):
    # P = 10 * (50 + 74) / 1499 = 0.827218
    assert tot.pq == 149
    assert tot.performance == pytest.approx(0.827218, abs=0.001)


def test_bad_and_stale_samples_are_no_data(tmp_path):
    eng = _engine(tmp_path, running_signal="running")
    f = Feeder(eng, None, utc0=T0)
    f.values = {"running": True}
    f.emit()
    f.run_until(100)
    f.quality["running"] = Quality.BAD
    f.run_until(200)
    f.quality["running"] = Quality.STALE
    f.run_until(250)
    f.quality.clear()
    f.values["running"] = False
    f.run_until(400)
    tot = _total(eng)
    # running [0, 101) (first BAD sample at 101 s); no_data [101, 251) (BAD then STALE until the
    # first GOOD sample at 251 s); down [251, 400)
    assert tot.apt_s == pytest.approx(101)
    assert tot.nodata_s == pytest.approx(150)
    assert tot.down_s == pytest.approx(149)


@pytest.mark.parametrize("rule", ["speed", "running_signal", "any", "all"])
def test_running_rule_combinations(tmp_path, rule):
    eng = _engine(tmp_path, running_signal="running", speed_signal="spindle_speed", speed_threshold=500,
                  running_rule=rule)
    f = Feeder(eng, None, utc0=T0)
    f.values = {"running": True, "spindle_speed": 3000.0}
    f.emit()
    f.run_until(100)  # both true up to and including 100 s
    f.values["spindle_speed"] = 0.0
    f.run_until(150)  # bit true up to 150 s
    f.values["running"] = False
    f.run_until(199)
    f.values["spindle_speed"] = 3000.0
    f.run_until(300)
    f.values["spindle_speed"] = 0.0
    f.run_until(400)
    tot = _total(eng)
    # Samples at whole seconds; a value holds from its sample to the next change.
    # speed > 500 until the sample at 101 s and again from 200 s to 301 s; the bit is true until 151 s.
    # speed:          [0, 101) + [200, 301)   = 202 s
    # running bit:    [0, 151)                = 151 s
    # any:            [0, 151) + [200, 301)   = 252 s
    # all:            [0, 101)                = 101 s
    expected = {"speed": 202, "running_signal": 151, "any": 252, "all": 101}[rule]
    assert tot.apt_s == pytest.approx(expected)
    assert tot.pot_s == pytest.approx(400)


def test_counter_activity_rule(tmp_path):
    eng = _engine(tmp_path, counter_signal="part_count", counter_active_s=30, ideal_cycle_s=10)
    f = Feeder(eng, None, utc0=T0)
    f.values = {"part_count": 0}
    f.emit()
    for i in range(1, 11):  # a part every 10 s for 100 s
        f.run_until(i * 10 - 1)
        f.values["part_count"] = i
        f.run_until(i * 10)
    f.run_until(300)
    tot = _total(eng)
    # running from the first count at 10 s until 30 s after the last at 100 s: [10, 130) = 120 s;
    # [0, 10) and [130, 300] are down: 10 + 170 = 180 s
    assert tot.apt_s == pytest.approx(120)
    assert tot.down_s == pytest.approx(180)
    assert tot.pq == 10 and tot.performance == pytest.approx(100 / 120)


def test_counter_wrap_and_reset(tmp_path):
    eng = _engine(tmp_path, running_signal="running", counter_signal="part_count", scrap_signal="scrap_count",
                  energy_signal="energy_kwh", energy_wrap_kwh=100_000)
    f = Feeder(eng, None, utc0=T0)
    wrap = 2**32
    f.values = {"running": True, "part_count": wrap - 3, "scrap_count": 7, "energy_kwh": 99_999.5}
    f.emit()
    f.run_until(10)
    f.values.update(part_count=2, energy_kwh=0.7)  # uint32 wrap: -3, -2, -1, 0, 1, 2 -> 5 parts; meter +1.2 kWh
    f.run_until(20)
    f.values.update(part_count=0, scrap_count=0, energy_kwh=1.0)  # PLC restart: counters back to 0
    f.run_until(30)
    f.values.update(part_count=4, scrap_count=1)  # 4 parts since the restart, 1 of them scrap
    f.run_until(40)
    tot = _total(eng)
    # PQ = 5 (wrap) + 0 (reset to 0) + 4 = 9; SQ = 0 + 1 = 1; GQ = 8
    assert (tot.pq, tot.sq, tot.gq) == (9, 1, 8)
    # energy: +1.2 (wrap at 100000) + 0.3 = 1.5 kWh
    assert tot.energy_kwh == pytest.approx(1.5)
    events = [json.loads(d) for k, d in eng.conn.execute(
        "SELECT kind, detail FROM box_events WHERE kind = 'counter_reset'").fetchall()]
    assert sorted(e["signal"] for e in events) == ["part_count", "scrap_count"]
