"""The core against the real simulator processes: values flow, samples are
recorded, a jam trips the guard (shadow: alert only; armed: the stop coil
reaches the simulated PLC), and a reset releases it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.ipc import request_sync, socket_path
from appliance.keys import role_grant, session_key
from appliance.simulator.run import control_request
from appliance.storage import count_samples
from tests.conftest import PY, ROOT, free_port, wait_for


@pytest.fixture
def box(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    modbus, opcua, control = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "box.toml"
    cfg.write_text((ROOT / "configs" / "demo.toml").read_text()
                   .replace("port = 5020", f"port = {modbus}")
                   .replace('simulator = "127.0.0.1:5021"', f'simulator = "127.0.0.1:{control}"')
                   .replace('data_dir = "var/demo"', f'data_dir = "{data}"')
                   .replace("batch_interval_s = 1.0", "batch_interval_s = 0.2"))
    sim = subprocess.Popen([PY, "-m", "appliance.cli", "simulate", "--modbus-port", str(modbus),
                            "--opcua-port", str(opcua), "--control-port", str(control), "--mean-run-s", "100000"],
                           env=cli_env, cwd=ROOT, stdout=subprocess.DEVNULL)
    core = subprocess.Popen([PY, "-m", "appliance.cli", "core", "--config", str(cfg)], env=cli_env, cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield {"data": data, "control": control, "sock": socket_path(data), "core": core}
    finally:
        for p in (core, sim):
            p.send_signal(signal.SIGTERM)
        for p in (core, sim):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_core_reads_records_and_stops_the_simulated_machine(box: dict[str, Any]) -> None:
    sock, control = box["sock"], box["control"]

    def status() -> dict[str, Any]:
        return request_sync(sock, "status")

    wait_for(lambda: any(p["kind"] == "modbus" and p["available"] for p in status()["parts"]), what="modbus source up")
    live = wait_for(lambda: (v := request_sync(sock, "live"))["values"].get("spindle_speed", {}).get("v", 0) > 1000 and v,
                    what="spindle running in live values")
    assert live["values"]["spindle_speed"]["v"] > 1000 and live["guard"]["mode"] == "shadow"
    with sqlite3.connect(box["data"] / "werkvloer.db") as conn:
        wait_for(lambda: count_samples(conn) > 50, what="samples recorded")
    # The light barrier on (mock) GPIO counts the parts the simulator makes.
    sim_parts = control_request("127.0.0.1", control, {"op": "values"})["values"]["part_count"]
    wait_for(lambda: request_sync(sock, "live")["values"].get("part_done", {}).get("v", 0) >= 1,
             timeout_s=60, what="light barrier pulse counted")
    assert control_request("127.0.0.1", control, {"op": "values"})["values"]["part_count"] > sim_parts
    assert request_sync(sock, "live")["stack_light"] in ("running", "attention")

    # Shadow mode: a jam raises an alert but nothing latches and the coil stays off.
    control_request("127.0.0.1", control, {"op": "inject", "fault": "jam"})
    with sqlite3.connect(box["data"] / "werkvloer.db") as conn:
        wait_for(lambda: conn.execute("SELECT count(*) FROM alerts WHERE source = 'guard'").fetchone()[0] > 0,
                 what="guard alert stored")
    assert request_sync(sock, "guard.status")["tripped"] is False
    assert control_request("127.0.0.1", control, {"op": "values"})["stop_active"] is False

    # The operator may not arm; maintenance may.
    def grant(role: str) -> str:  # what the ui sends for a logged-in session
        return role_grant(session_key(box["data"]), role)

    named = request_sync(sock, "guard.set_mode", mode="armed", role="admin")
    assert named["ok"] is False and named["denied"] and "grant" in named["error"]
    denied = request_sync(sock, "guard.set_mode", mode="armed", grant=grant("operator"))
    assert not denied["ok"] and denied.get("denied")
    assert request_sync(sock, "guard.set_mode", mode="armed", grant=grant("maintenance"))["ok"]
    wait_for(lambda: request_sync(sock, "guard.status")["tripped"], what="armed trip")
    wait_for(lambda: control_request("127.0.0.1", control, {"op": "values"})["stop_active"], what="stop coil set")
    wait_for(lambda: request_sync(sock, "live")["stack_light"] == "stopped", what="stack light red")

    # Reset releases the coil once the fault is gone.
    control_request("127.0.0.1", control, {"op": "clear"})
    wait_for(lambda: request_sync(sock, "guard.reset", grant=grant("operator"))["ok"]
             and not request_sync(sock, "guard.status")["tripped"], what="reset")
    wait_for(lambda: not control_request("127.0.0.1", control, {"op": "values"})["stop_active"], what="coil released")


def test_a_lost_plc_becomes_an_alert_and_its_return_too(box: dict[str, Any]) -> None:
    sock, control = box["sock"], box["control"]
    wait_for(lambda: any(p["kind"] == "modbus" and p["available"] for p in request_sync(sock, "status")["parts"]),
             what="modbus source up")
    control_request("127.0.0.1", control, {"op": "inject", "fault": "plc_disconnect"})
    db = box["data"] / "werkvloer.db"

    def alerts(kind: str) -> list[tuple]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT title, severity FROM alerts WHERE kind = ?", [kind]).fetchall()

    (title, severity), = wait_for(lambda: alerts("device_lost"), what="device lost alert")
    assert severity == "critical" and "cel_plc" in title and "Geen verbinding" in title
    # The detail in both languages, the driver's own error text apart (issue 15).
    with sqlite3.connect(db) as conn:
        (stored,), = conn.execute("SELECT detail FROM alerts WHERE kind = 'device_lost'").fetchall()
    detail = json.loads(stored)
    assert detail["nl"].startswith("Het apparaat antwoordt niet.") and detail["en"].startswith("The device does not")
    assert detail.get("error") and detail["error"] not in detail["nl"]
    control_request("127.0.0.1", control, {"op": "clear"})
    wait_for(lambda: alerts("device_back"), what="device back alert")
    assert len(alerts("device_lost")) == 1  # one alert per outage, not one per poll
