"""The guard end to end with rules and GPIO outputs on gpiozero's MockFactory pins.

Real parts throughout: the drivers' GpioStopOutput/GpioHeartbeat, a real
SQLite file (trips, audit, mode), the alerts package's AlertSink.
"""

from __future__ import annotations

import time

import pytest

from appliance.database import open_box_db
from appliance.errors import PermissionDenied
from appliance.guard import handlers
from appliance.guard import store as gstore
from drivers.samples import Quality

from .conftest import collect, value, wait_for

RELAY, SECOND_RELAY, BEAT, BUTTON = 17, 27, 22, 5


def cfg(mode: str = "armed", **kw: object) -> dict:
    base = {
        "mode": mode,
        "rules": [{"name": "too_hot", "kind": "above", "signal": "temperature", "limit": 80.0},
                  {"name": "no_parts", "kind": "stalled", "signal": "part_count", "for_ms": 150,
                   "while_signal": "running"}],
        "outputs": [{"name": "stop_relay", "kind": "gpio", "pin": RELAY}],
    }
    base.update(kw)
    return base


def relay_on(factory, pin: int = RELAY) -> bool:
    return bool(factory.pin(pin).state)


def test_armed_rule_trip_fires_latches_and_records(make_guard, factory, sink, db_path) -> None:
    g = make_guard(cfg())
    assert not relay_on(factory)
    g.on_sample(value("temperature", 75.0))
    g.on_sample(value("temperature", 81.5))
    wait_for(lambda: relay_on(factory), what="stop relay energised")
    assert g.status()["tripped"] and g.status()["cause"]["name"] == "too_hot"
    # Latched: the value going back to normal does not release the stop.
    g.on_sample(value("temperature", 20.0))
    g.flush()
    assert relay_on(factory) and g.tripped
    got = [a for a in collect(sink, lambda a: a["kind"] == "guard.trip") if a["kind"] == "guard.trip"]
    assert len(got) == 1 and got[0]["severity"] == "critical" and "too_hot" in got[0]["title"]["en"] and "stopte de machine" in got[0]["title"]["nl"]
    db = open_box_db(db_path)
    (trip,) = gstore.trips(db)
    assert trip["mode"] == "armed" and trip["cause"] == "too_hot" and trip["reset_ts"] is None
    assert [o["name"] for o in trip["outputs"]] == ["stop_relay"] and trip["outputs"][0]["ok"]
    assert trip["outputs"][0]["latency_ms"] > 0 and trip["decision_ms"] >= 0
    stats = gstore.latency_stats(db)
    assert stats["gpio"]["count"] == 1 and stats["gpio"]["max_ms"] == stats["gpio"]["p99_ms"]
    hist = gstore.latency_histogram(db)
    assert sum(b["count"] for b in hist["gpio"]) == 1
    assert gstore.status(db)["tripped"] is True


def test_reset_while_the_fault_persists_trips_again(make_guard, factory, db_path) -> None:
    g = make_guard(cfg())
    g.on_sample(value("temperature", 90.0))
    wait_for(lambda: relay_on(factory))
    g.reset("operator")  # still too hot: the rule holds again at once and trips again
    wait_for(lambda: g.flush() and len(gstore.trips(open_box_db(db_path))) == 2, what="second trip")
    assert relay_on(factory) and g.tripped
    db = open_box_db(db_path)
    newest, first = gstore.trips(db)
    assert first["reset_role"] == "operator" and newest["reset_ts"] is None
    assert db.execute("SELECT action, role FROM audit WHERE action = 'guard.reset'").fetchall() == [
        ("guard.reset", "operator")]


def test_reset_after_the_fault_cleared_stays_released(make_guard, factory, sink) -> None:
    g = make_guard(cfg())
    g.on_sample(value("temperature", 90.0))
    wait_for(lambda: relay_on(factory))
    g.on_sample(value("temperature", 60.0))
    g.reset("operator")
    assert not relay_on(factory) and not g.tripped
    g.on_sample(value("temperature", 61.0))
    g.flush()
    assert not g.tripped


def test_shadow_alerts_without_firing(make_guard, factory, sink, db_path) -> None:
    g = make_guard(cfg(mode="shadow"))
    g.on_sample(value("temperature", 99.0))
    got = wait_for(lambda: [a for a in sink.drain() if a["kind"] == "guard.trip"], what="shadow alert")
    assert got[0]["severity"] == "warning" and "shadow" in got[0]["title"]["en"] and "schaduw" in got[0]["title"]["nl"]
    assert not relay_on(factory) and not g.tripped
    g.flush()
    (trip,) = gstore.trips(open_box_db(db_path))
    assert trip["mode"] == "shadow" and trip["outputs"] == []


def test_off_does_nothing(make_guard, factory, sink, db_path) -> None:
    g = make_guard(cfg(mode="off"))
    g.on_sample(value("temperature", 99.0))
    g.on_sample(value("running", True))
    g.on_sample(value("part_count", 3))
    time.sleep(0.3)  # longer than the stall rule's 150 ms: nothing may happen in that time
    g.flush()
    assert not relay_on(factory) and not g.tripped
    assert [a for a in sink.drain() if a["kind"] == "guard.trip"] == []
    assert gstore.trips(open_box_db(db_path)) == []


def test_stalled_counter_while_running_trips_on_time(make_guard, factory) -> None:
    g = make_guard(cfg())
    g.on_sample(value("running", True))
    g.on_sample(value("part_count", 41))
    # No further sample: the guard thread's timer must notice the stall.
    wait_for(lambda: relay_on(factory), what="stall trip")
    assert g.status()["cause"]["name"] == "no_parts"


def test_counter_moving_or_machine_stopped_does_not_trip(make_guard, factory) -> None:
    g = make_guard(cfg())
    g.on_sample(value("running", False))
    g.on_sample(value("part_count", 1))
    end = time.monotonic() + 0.4
    n = 2
    while time.monotonic() < end:
        g.on_sample(value("part_count", n))
        n += 1
        if n == 5:
            g.on_sample(value("running", True))
        time.sleep(0.03)
    assert not g.tripped


def test_nan_and_bad_quality_values_are_skipped(make_guard, factory) -> None:
    g = make_guard(cfg())
    g.on_sample(value("temperature", float("nan")))
    g.on_sample(value("temperature", 95.0, quality=Quality.BAD))
    g.on_sample(value("temperature", None))
    g.on_sample(value("temperature", float("inf")))
    g.flush()
    time.sleep(0.05)
    assert not g.tripped and g.status()["rules"][0]["active"] is False


def test_modes_need_maintenance_and_are_audited(make_guard, db_path) -> None:
    g = make_guard(cfg(mode="shadow"))
    with pytest.raises(PermissionDenied):
        g.set_mode("armed", "operator")
    with pytest.raises(PermissionDenied):
        g.set_mode("off", "coordinator")
    assert g.mode == "shadow"
    with pytest.raises(ValueError, match="unknown"):
        g.set_mode("panic", "admin")
    assert g.set_mode("armed", "maintenance")["mode"] == "armed"
    g.flush()
    db = open_box_db(db_path)
    assert db.execute("SELECT role, action, detail FROM audit").fetchall() == [
        ("maintenance", "guard.set_mode", "shadow -> armed")]
    assert gstore.stored_mode(db) == "armed"


def test_stored_mode_and_latch_survive_a_restart(make_guard, factory, sink, db_path) -> None:
    g = make_guard(cfg(mode="shadow"))
    g.set_mode("armed", "admin")
    g.on_sample(value("temperature", 99.0))
    wait_for(lambda: g.tripped)
    g.stop()
    assert not relay_on(factory)  # the pin was closed with the guard
    g2 = make_guard(cfg(mode="shadow"))  # config says shadow; maintenance said armed
    assert g2.mode == "armed" and g2.tripped
    assert relay_on(factory)  # the latched stop is applied again at start, not silently released
    g2.reset("maintenance")
    assert not relay_on(factory)


def test_ipc_handlers(make_guard, factory) -> None:
    g = make_guard(cfg(mode="shadow"))
    h = handlers(g)
    assert set(h) == {"guard.status", "guard.set_mode", "guard.reset", "models.reload"}
    assert h["guard.status"]({})["mode"] == "shadow"
    with pytest.raises(PermissionDenied):
        h["guard.set_mode"]({"mode": "armed", "role": "operator"})
    with pytest.raises(ValueError):
        h["guard.set_mode"]({"mode": "armed"})
    assert h["guard.set_mode"]({"mode": "armed", "role": "maintenance"})["mode"] == "armed"
    g.on_sample(value("temperature", 99.0))
    wait_for(lambda: relay_on(factory))
    assert h["guard.reset"]({"role": "operator"})["tripped"] is False


def test_physical_reset_button(make_guard, factory, db_path) -> None:
    g = make_guard(cfg(reset_pin=BUTTON))
    g.on_sample(value("temperature", 99.0))
    wait_for(lambda: relay_on(factory))
    g.on_sample(value("temperature", 20.0))  # cooled down (else the reset is followed by a new trip)
    button = factory.pin(BUTTON)
    button.drive_low()  # pressed (pull-up: pressed = low)
    wait_for(lambda: not g.tripped, what="reset by button")
    assert not relay_on(factory)
    button.drive_high()
    g.flush()
    assert open_box_db(db_path).execute(
        "SELECT reset_source, reset_role FROM guard_trips").fetchall() == [("button", "operator")]


def test_run_permit_relay(make_guard, factory) -> None:
    g = make_guard(cfg(run_permit=True))
    assert relay_on(factory)  # healthy and not tripped: permit given
    g.on_sample(value("temperature", 99.0))
    wait_for(lambda: not relay_on(factory), what="permit withdrawn on trip")
    g.reset("operator")
    assert relay_on(factory)  # permit again
    g.stop()
    assert not relay_on(factory)  # a stopped guard withdraws the permit


def test_heartbeat_toggles(make_guard, factory) -> None:
    g = make_guard(cfg(outputs=[{"name": "stop_relay", "kind": "gpio", "pin": RELAY},
                                {"name": "beat", "kind": "gpio", "pin": BEAT}],
                       heartbeat={"output": "beat", "period_ms": 20}))
    pin = factory.pin(BEAT)
    wait_for(lambda: len(pin.states) >= 6, what="heartbeat toggles")
    levels = [s.state for s in pin.states[1:6]]
    assert all(a != b for a, b in zip(levels, levels[1:], strict=False))  # it alternates
    # The heartbeat is not a stop output: a trip fires the relay only.
    g.on_sample(value("temperature", 99.0))
    wait_for(lambda: relay_on(factory))
    assert [o["name"] for o in g.status()["outputs"]] == ["stop_relay"]


def test_progress_counts_while_idle(make_guard) -> None:
    g = make_guard(cfg(tick_ms=5))
    first = g.progress_count
    wait_for(lambda: g.progress_count > first + 3, what="guard loop progress")
    assert time.monotonic() - g.progress() < 5
    assert g.status()["healthy"] is True
