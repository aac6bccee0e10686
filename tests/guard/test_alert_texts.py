"""The guard's alerts in both languages with the raw error apart (issue 15): a stop output that
cannot be reached (a closed port on 127.0.0.1, as a PLC that is off) and an armed trip."""

from __future__ import annotations

from appliance.alerts import encode_detail

from ..conftest import free_port
from .conftest import collect, value, wait_for

RELAY = 18


def test_unreachable_output_and_armed_trip_alerts_in_both_languages(make_guard, sink) -> None:
    closed = free_port()  # nothing listens there: connection refused
    g = make_guard({"mode": "armed",
                    "rules": [{"name": "overload", "kind": "above", "signal": "motor_current", "limit": 20.0}],
                    "outputs": [{"name": "stop_relay", "kind": "gpio", "pin": RELAY},
                                {"name": "stop_coil", "kind": "modbus", "host": "127.0.0.1", "port": closed,
                                 "address": 0, "timeout_ms": 300}]}, ready=False)
    got = collect(sink, lambda a: a["dedupe_key"] == "guard.output.stop_coil", what="the unreachable output")
    down = next(a for a in got if a["dedupe_key"] == "guard.output.stop_coil")["detail"]
    assert down["nl"].startswith("De bewaking maakt zelf opnieuw verbinding") and down["en"].startswith("The guard")
    assert str(closed) in down["error"] and str(closed) not in down["nl"]  # the raw error apart, untranslated
    g.on_sample(value("motor_current", 35.0))
    wait_for(lambda: g.status()["last_trip"], what="trip")
    got += collect(sink, lambda a: a["dedupe_key"] == "guard.output.stop_coil.fire", what="the fire failure")
    trip = next(a for a in got if a["kind"] == "guard.trip")["detail"]
    assert trip["en"].startswith("motor_current = 35.0 above 20 for 0 ms. Outputs: stop_relay confirmed; "
                                 "stop_coil not confirmed")
    assert trip["nl"].startswith("motor_current = 35,0 boven 20 gedurende 0 ms. Stopuitgangen: stop_relay bevestigd")
    assert trip["rule"]["signal"] == "motor_current" and trip["error"].startswith("stop_coil: ")
    fire = next(a for a in got if a["dedupe_key"] == "guard.output.stop_coil.fire")["detail"]
    assert fire["nl"].startswith("De bewaking blijft de stop sturen") and fire["error"]
    for a in got:
        if a.get("detail") is not None:
            assert isinstance(a["detail"], dict) and a["detail"]["nl"] != a["detail"]["en"], a
            encode_detail(a["detail"])
    # The guard's own trip record keeps the English text, as before.
    assert g.status()["last_trip"]["cause"] == "overload"
    g.on_sample(value("motor_current", 5.0))
    g.reset("maintenance")
