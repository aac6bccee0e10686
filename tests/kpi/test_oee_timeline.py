"""Scripted simulator timelines with hand-computed OEE (to 0.1 percentage point)."""

from __future__ import annotations

import pytest

from appliance.kpi.calendar import NS
from appliance.kpi.engine import KpiEngine
from appliance.kpi.queries import current_stop, kpi_total, list_stops, period_rows
from models.training.machine import MachineState, TimelineStep
from tests.kpi.helpers import PRODUCTS, SIM_CODES, Feeder, box_config, fast_sim, utc_ns

R, D, IDLE = MachineState.RUNNING, MachineState.DOWN, MachineState.IDLE
T0 = utc_ns("2026-06-01T06:00")  # Monday, whole UTC hour


def _engine(tmp_path, **machine):
    m = dict(state_signal="machine_state", state_codes=SIM_CODES, counter_signal="part_count",
             scrap_signal="scrap_count", product_signal="product_id", energy_signal="energy_kwh",
             products=PRODUCTS, micro_stop_s=120, flush_s=60)
    m.update(machine)
    cfg = box_config(tmp_path, **m)
    return KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)


def test_hour_with_breakdown_scrap_and_micro_stop(tmp_path):
    # Changes at x.5 s: a sample each whole second sees them at the next whole second.
    sim = fast_sim([TimelineStep(0, state=R, product=1),
                    TimelineStep(899.5, state=D),
                    TimelineStep(1505.5, state=R, scrap_next=5),
                    TimelineStep(2399.5, state=IDLE),
                    TimelineStep(2459.5, state=R)])
    eng = _engine(tmp_path)
    f = Feeder(eng, sim, utc0=T0)
    f.emit()  # t = 0
    f.run_until(3600)
    eng.flush(force=True)

    # Engine view (samples at whole seconds):
    #   running [0, 900)        900 s
    #   down    [900, 1506)     606 s  -> a failure (>= 120 s micro-stop limit)
    #   running [1506, 2400)    894 s
    #   idle    [2400, 2460)     60 s  -> a micro-stop (counted apart, no reason needed)
    #   running [2460, 3600)   1140 s
    # POT = PBT = 3600 s (24/7 calendar, no planned stops, no no-data)
    # APT = 900 + 894 + 1140 = 2934 s
    # A = 2934 / 3600 = 0.815000
    # Simulator running time = 899.5 + 894 + 1140.5 = 2934 s at 12 s/part
    #   -> 244.5 cycles -> PQ = 244; the first 5 parts after the restart are scrap: GQ = 239
    # P = PRI * PQ / APT = 10 * 244 / 2934 = 0.831629
    # Q = 239 / 244 = 0.979508
    # OEE = 0.815 * 0.831629 * 0.979508 = 0.663889
    # (the sample at exactly 3600 s falls in the next hour, so ask for two hours)
    tot = kpi_total(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * 3600 * NS)
    assert tot.pot_s == pytest.approx(3600, abs=1e-6)
    assert tot.apt_s == pytest.approx(2934, abs=1e-6)
    assert tot.down_s == pytest.approx(606, abs=1e-6)
    assert tot.idle_s == pytest.approx(60, abs=1e-6)
    assert (tot.pq, tot.gq, tot.sq) == (244, 239, 5)
    assert tot.availability == pytest.approx(0.815, abs=0.001)
    assert tot.performance == pytest.approx(0.831629, abs=0.001)
    assert tot.quality == pytest.approx(0.979508, abs=0.001)
    assert tot.oee == pytest.approx(0.663889, abs=0.001)
    assert tot.scrap_rate == pytest.approx(5 / 244, abs=1e-9)
    # micro-stops counted apart; one failure: MTTR = 606 s, MTBF = APT / 1
    assert (tot.micro_n, tot.micro_s) == (1, pytest.approx(60))
    assert tot.failures == 1 and tot.mttr_s == pytest.approx(606) and tot.mtbf_s == pytest.approx(2934)
    # parts per hour of planned busy time: 244 / 1 h
    assert tot.parts_per_hour == pytest.approx(244) and tot.good_per_hour == pytest.approx(239)
    # energy: what the simulated meter counted between the first and the last sample (4-decimal readout)
    assert tot.energy_kwh == pytest.approx(sim.values()["energy_kwh"] - 1000.0, abs=2e-4)
    assert tot.energy_per_good_kwh == pytest.approx(tot.energy_kwh / 239)

    hours = period_rows(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 2 * 3600 * NS, granularity="hour")
    assert [h.period for h in hours] == ["2026-06-01T08:00+02:00", "2026-06-01T09:00+02:00"]
    assert hours[0].apt_s == pytest.approx(2934) and hours[1].apt_s == 0 and hours[1].pot_s == 0
    assert hours[0].failures == 1 and hours[0].micro_n == 1

    stops = list_stops(eng.conn, start_ns=T0, end_ns=T0 + 3600 * NS, include_micro=True)
    assert [(s.state, round(s.dur_s), s.micro) for s in stops] == [("down", 606, False), ("idle", 60, True)]
    assert stops[0].start_ts == T0 + 900 * NS and stops[0].end_ts == T0 + 1506 * NS
    assert current_stop(eng.conn) is None

    st = eng.status()
    assert st["state"] == "running" and st["stop"] is None
    assert st["oee_today"]["oee"] == pytest.approx(0.663889, abs=0.001)


def test_product_changes_ideal_cycle(tmp_path):
    # 30 min: product 1 (actual 12 s, ideal 10 s), from 900.5 s product 2 (actual 20 s, ideal 18 s).
    sim = fast_sim([TimelineStep(0, state=R, product=1), TimelineStep(900.5, product=2)])
    eng = _engine(tmp_path)
    f = Feeder(eng, sim, utc0=T0)
    f.emit()
    f.run_until(1800)
    eng.flush(force=True)
    tot = kpi_total(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 3600 * NS)
    # product 1: 900.5 s / 12 s = 75.04 cycles -> 75 parts (the 75th at 900 s, counted at 900 s while the
    #   product signal still says 1) -> 75 * 10 s = 750 s ideal
    # product 2: 0.0417 cycle carried over; (899.5 s / 20 s) + 0.0417 = 45.02 cycles -> 45 parts
    #   (the 45th at 1799.67 s) -> 45 * 18 s = 810 s ideal
    # P = (750 + 810) / 1800 = 0.866667
    assert tot.pq == 120
    assert tot.ideal_s == pytest.approx(1560)
    assert tot.performance == pytest.approx(0.866667, abs=0.001)
    assert tot.availability == pytest.approx(1.0)


def test_engine_thread_consumes_a_bus_queue(tmp_path):
    from appliance.bus import Bus
    from drivers.samples import Sample

    cfg = box_config(tmp_path, running_signal="running", counter_signal="part_count")
    bus = Bus()
    clock = {"mono": 100 * NS, "utc": T0}
    eng = KpiEngine(cfg, cfg.db_path, queue=bus.subscribe_queue("kpi"), clock_synced=lambda: True,
                    clock=lambda: (clock["mono"], clock["utc"]))
    eng.start()
    try:
        for i in range(0, 61):
            m = 100 * NS + i * NS
            clock.update(mono=m, utc=T0 + i * NS)
            bus.publish(Sample("running", i < 40, mono_ns=m, utc_ns=T0 + i * NS))
            bus.publish(Sample("part_count", min(i, 40) // 4, mono_ns=m, utc_ns=T0 + i * NS))
        import time

        deadline = time.monotonic() + 10
        while eng.status().get("samples", 0) < 122 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert eng.status()["state"] == "down"
        h = eng.health()
        assert h["available"] and h["samples"] == 122 and h["queue_dropped"] == 0
    finally:
        eng.stop()
    tot = kpi_total(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 3600 * NS)
    # running [0, 40) s, down [40, 60] s; 10 parts (counter 0 -> 10)
    assert tot.apt_s == pytest.approx(40) and tot.down_s == pytest.approx(20) and tot.pq == 10


def test_operator_chooses_the_product(tmp_path):
    from appliance.database import open_box_db
    from appliance.kpi.commands import set_product

    cfg = box_config(tmp_path, running_signal="running", counter_signal="part_count", products=PRODUCTS,
                     ideal_cycle_s=30, flush_s=10)
    eng = KpiEngine(cfg, cfg.db_path, clock_synced=lambda: True)
    f = Feeder(eng, None, utc0=T0, step_s=1)
    f.values = {"running": True, "part_count": 0}
    f.emit()
    for t in range(20, 101, 20):  # no product chosen yet: default PRI 30 s
        f.run_until(t)
        f.values["part_count"] += 1
    ui = open_box_db(cfg.db_path)
    set_product(ui, product_id="as_b", role="operator", known=[p.id for p in cfg.machine.products])
    with pytest.raises(ValueError, match="unknown product"):
        set_product(ui, product_id="kaas", role="operator", known=[p.id for p in cfg.machine.products])
    for t in range(120, 201, 20):  # the engine reads the choice at its next write (within flush_s)
        f.run_until(t)
        f.values["part_count"] += 1
    f.run_until(220)
    eng.flush(force=True)
    tot = kpi_total(eng.conn, calendar=eng.calendar, start_ns=T0, end_ns=T0 + 3600 * NS)
    # counts seen at 21, 41, 61, 81, 101 s with PRI 30 s (the choice at 100 s is read at the write at 110 s);
    # counts at 121 .. 201 s (5 parts) with PRI 18 s: ideal = 5 x 30 + 5 x 18 = 240 s over APT 220 s
    assert tot.pq == 10 and tot.ideal_s == pytest.approx(240)
    assert ui.execute("SELECT role, action, target FROM audit").fetchall() == [("operator", "kpi.set_product", "as_b")]
