"""Models under /api/v1/models (install, shadow, activate, roll back; roles, CSRF, audit,
asking the core to reload) and the operator's product chooser. In-process app, real
SQLite, the shipped LiteRT model, and a real IPC server around a real Guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from appliance.database import open_box_db
from appliance.models.registry import SHIPPED_DIR
from local_ui import security
from local_ui.app import create_app
from models.runtime import load_model
from tests.conftest import model_version

from .helpers import core_ipc

LOCAL = ("127.0.0.1", 40000)
PINS = {"admin": "2468", "maintenance": "1357", "coordinator": "8642"}
VIB = SHIPPED_DIR / "vibration-anomaly"


@pytest.fixture
def app(box_config: Any) -> Any:
    return create_app(box_config, session_secret="test-secret")


@pytest.fixture
def db(app: Any, box_config: Any) -> Iterator[Any]:
    d = open_box_db(box_config.db_path)
    for role, pin in PINS.items():
        security.set_pin(d, role, pin)
    yield d
    d.conn.close()


def client(app: Any, role: str | None = None) -> tuple[TestClient, dict[str, str]]:
    """A client on the kiosk (loopback); logged in as ``role`` (None = the operator)."""
    c = TestClient(app, client=LOCAL)
    tok = c.get("/api/v1/session").json()["csrf"]
    if role is not None:
        r = c.post("/api/v1/session", json={"role": role, "pin": PINS[role]}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200, r.text
        tok = r.json()["csrf"]
    return c, {"X-CSRF-Token": tok}


def bumped(tmp: Path, version: str) -> Path:
    """The shipped vibration model with another version in its manifest (sha256 recomputed)."""
    return model_version(VIB, tmp / f"vib-{version}", version)


def upload(c: TestClient, headers: dict[str, str], folder: Path) -> Any:
    files = {"model": ("model.tflite", (folder / "model.tflite").read_bytes(), "application/octet-stream"),
             "manifest": ("manifest.json", (folder / "manifest.json").read_bytes(), "application/json")}
    return c.post("/api/v1/models", files=files, headers=headers)


def vib(models: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in models if m["id"] == "vibration-anomaly")


def test_install_shadow_activate_rollback_with_roles_and_audit(app: Any, db: Any, tmp_path: Path) -> None:
    src = bumped(tmp_path, "1.1.0")
    op, op_h = client(app)
    assert op.get("/api/v1/models").status_code == 401
    assert upload(op, op_h, src).status_code == 401
    coord, coord_h = client(app, "coordinator")
    assert upload(coord, coord_h, src).status_code == 403
    c, h = client(app, "maintenance")
    assert upload(c, {}, src).status_code == 403  # no CSRF token

    r = upload(c, h, src)
    assert r.status_code == 201, r.text
    m = r.json()["model"]
    base = m["active"]
    assert r.json()["installed"]["version"] == "1.1.0" and m["candidates"] == ["1.1.0"]
    new = next(v for v in m["versions"] if v["version"] == "1.1.0")
    assert new["slot"] == "candidate" and new["evaluation"]["roc_auc"] > 0.9  # figures from the manifest

    assert coord.post("/api/v1/models/vibration-anomaly/shadow", json={"version": "1.1.0"},
                      headers=coord_h).status_code == 403
    r = c.post("/api/v1/models/vibration-anomaly/shadow", json={"version": "1.1.0"}, headers=h)
    assert r.status_code == 200 and r.json()["model"]["shadow"] == "1.1.0"
    core = r.json()["core"]  # no core process in this test
    assert not core["applied"] and not core["core_running"] and "volgende start" in core["message"]  # Dutch

    r = c.post("/api/v1/models/vibration-anomaly/activate", json={"version": "1.1.0"}, headers=h)
    m = r.json()["model"]
    assert m["active"] == "1.1.0" and m["shadow"] is None and m["can_rollback"]
    assert c.post("/api/v1/models/vibration-anomaly/activate", json={"version": "3.0.0"},
                  headers=h).status_code == 409  # not installed: clear refusal
    r = c.post("/api/v1/models/vibration-anomaly/rollback", json={"slot": "active"}, headers=h)
    assert r.json()["model"]["active"] == base
    assert vib(c.get("/api/v1/models").json()["models"])["active"] == base

    admin, admin_h = client(app, "admin")  # admin may do everything
    assert admin.post("/api/v1/models/vibration-anomaly/shadow", json={"version": "1.1.0"},
                      headers=admin_h).status_code == 200
    rows = db.execute("SELECT role, action, target FROM audit WHERE action LIKE 'model.%' ORDER BY id").fetchall()
    assert rows == [("maintenance", "model.install", "vibration-anomaly@1.1.0"),
                    ("maintenance", "model.shadow", "vibration-anomaly@1.1.0"),
                    ("maintenance", "model.active", "vibration-anomaly@1.1.0"),
                    ("maintenance", "model.rollback_active", "vibration-anomaly@1.1.0"),
                    ("admin", "model.shadow", "vibration-anomaly@1.1.0")]


def test_install_refuses_a_corrupt_file_and_a_checksum_mismatch(app: Any, db: Any, tmp_path: Path) -> None:
    c, h = client(app, "maintenance")
    corrupt = bumped(tmp_path, "2.0.0")
    (corrupt / "model.tflite").write_bytes(b"this is not a model" * 50)
    r = upload(c, h, corrupt)
    assert r.status_code == 422 and "not a TFLite model" in r.json()["detail"]

    mismatch = bumped(tmp_path, "2.0.1")
    raw = json.loads((mismatch / "manifest.json").read_text())
    raw["sha256"] = "0" * 64
    (mismatch / "manifest.json").write_text(json.dumps(raw))
    r = upload(c, h, mismatch)
    assert r.status_code == 422
    assert "SHA-256" in r.json()["detail"] and "manifest says" in r.json()["detail"]

    assert vib(c.get("/api/v1/models").json()["models"])["candidates"] == []
    assert not [p for p in (Path(app.state.ui.config.box.data_dir) / "models").rglob("*") if p.is_file()]


def test_activation_reaches_a_running_guard_over_ipc(app: Any, db: Any, box_config: Any, tmp_path: Path) -> None:
    from appliance.alerts import AlertSink
    from appliance.guard import Guard, handlers
    from appliance.guard.config import GuardConfig
    from appliance.models.registry import ModelRegistry

    gcfg = GuardConfig.model_validate({"mode": "shadow", "models": [
        {"name": "trilling", "model": "vibration-anomaly", "inputs": ["vibration", "motor_current"]}]})
    reg = ModelRegistry(open_box_db(box_config.db_path), data_dir=box_config.box.data_dir)
    guard = Guard(gcfg, registry=reg, alert_sink=AlertSink(), db_path=box_config.db_path, model_poll_s=600)
    guard.start()
    sock = box_config.db_path.parent / "core.sock"
    try:
        with core_ipc(sock, dict(handlers(guard))):
            c, h = client(app, "maintenance")
            assert upload(c, h, bumped(tmp_path, "1.2.0")).status_code == 201
            r = c.post("/api/v1/models/vibration-anomaly/activate", json={"version": "1.2.0"}, headers=h)
            core = r.json()["core"]
            assert core["applied"] and core["models"][0]["active"] == "1.2.0"
            assert guard.status()["models"][0]["version"] == "1.2.0"
            # The Settings page shows it too (maintenance sees the models section).
            html = c.get("/settings").text
            assert 'id="model-vibration-anomaly" data-active="1.2.0"' in html
    finally:
        guard.stop()


def test_model_status_says_a_gate_without_a_good_value_and_the_state_degraded(app: Any, db: Any,
                                                                                box_config: Any) -> None:
    """The guard's own gate watch (notes: guard.models[].while_signal_timeout_s) on a real Guard over IPC:
    a gate signal that never comes is "not scoring ... for N s", the state degraded; a good value clears it."""
    import time

    from appliance.alerts import AlertSink
    from appliance.guard import Guard, handlers
    from appliance.guard.config import GuardConfig
    from drivers.samples import Sample

    from .helpers import wait_for

    gcfg = GuardConfig.model_validate({"mode": "shadow", "models": [
        {"name": "trilling", "model": "vibration-anomaly", "inputs": ["vibration", "motor_current"],
         "while_signal": "running", "settle_s": 0, "while_signal_timeout_s": 1}]})
    guard = Guard(gcfg, alert_sink=AlertSink(), db_path=box_config.db_path, model_poll_s=600,
                  loaded_models={"trilling": load_model(VIB)})
    guard.start()
    sock = box_config.db_path.parent / "core.sock"
    try:
        with core_ipc(sock, dict(handlers(guard))):
            c, _ = client(app, "maintenance")
            wait_for(lambda: guard.status()["models"][0]["gate"]["lost"], what="the gate lost")
            page = c.get("/models/status").text
            card = page[page.index('data-binding="trilling"'):]
            assert 'data-gate-lost="1"' in card and 'data-ms="gate-lost" role="status" hidden' not in card
            assert "Verminderd: geen score" in card
            api = c.get("/api/v1/models/status").json()["bindings"][0]
            assert api["state"] == "degraded" and api["gate_lost"] and api["no_good_value_s"] >= 1
            assert "Draait" in api["gate_text"] and "geen goede waarde" in api["gate_text"], api["gate_text"]
            assert f"{int(api['no_good_value_s'])} s" in api["gate_text"]
            # A good value of the gate signal (the machine stands still: false is a good value): cleared.
            guard.on_sample(Sample("running", False, mono_ns=time.monotonic_ns()))
            wait_for(lambda: not guard.status()["models"][0]["gate"]["lost"], what="the gate back")
            api = c.get("/api/v1/models/status").json()["bindings"][0]
            assert api["state"] == "ok" and not api["gate_lost"] and api["gate_text"] == ""
            card = c.get("/models/status").text
            assert 'data-gate-lost="0"' in card and "Verminderd" not in card.split('data-ms="state"')[1][:80]
    finally:
        guard.stop()


def test_operator_chooses_the_product(app: Any, db: Any) -> None:
    op, h = client(app)
    got = op.get("/api/v1/product").json()
    assert [p["id"] for p in got["products"]] == ["flens_a", "as_b"] and got["current"] is None
    assert op.post("/api/v1/product", json={"product": "as_b"}).status_code == 403  # no CSRF token
    r = op.post("/api/v1/product", json={"product": "as_b"}, headers=h)
    assert r.status_code == 200 and r.json()["current"] == "as_b"
    r = op.post("/api/v1/product", json={"product": "bolt_x"}, headers=h)
    assert r.status_code == 422 and "flens_a" in r.json()["detail"]
    assert db.execute("SELECT value FROM settings WHERE key = 'kpi.product'").fetchone()[0] == "as_b"
    assert db.execute("SELECT role, target FROM audit WHERE action = 'kpi.set_product'").fetchall() == [
        ("operator", "as_b")]
    # The Home screen's big buttons: the chosen one is pressed; a tap on another changes it.
    html = op.get("/").text
    assert 'id="product-as_b" aria-pressed="true"' in html
    r = op.post("/product", data={"product": "flens_a", "csrf": h["X-CSRF-Token"]})
    assert r.status_code == 200 and 'id="product-flens_a" aria-pressed="true"' in r.text


def test_a_hung_model_is_worded_in_the_screen_s_language(box_config: Any) -> None:
    # The guard's status for a binding its watchdog found hung (tests/guard/test_models.py makes a real
    # one): the guard words it in English for its log; the page says it in the screen's language.
    from local_ui.i18n import translations
    from local_ui.routers.model_status import binding_view

    hung = {"name": "trilling", "model": "vibration-anomaly", "state": "hung",
            "error": "inference took longer than 200 ms", "latency_hist": {"edges_ms": [1, 10], "counts": [3, 0, 0]}}
    nl = binding_view(hung, box_config, "nl", translations("nl"))
    assert nl["error"] is None and "inference took" not in json.dumps(nl)
    assert nl["hung_text"] == "Geen antwoord binnen 200 ms; de regels blijven bewaken."
    en = binding_view(hung, box_config, "en", translations("en"))
    assert en["hung_text"] == "No answer within 200 ms; the rules keep watching."
    failed = binding_view({**hung, "state": "failed", "error": "inference failed: ValueError: bad shape"},
                          box_config, "nl", translations("nl"))
    assert failed["hung_text"] == "" and failed["error"] == "inference failed: ValueError: bad shape"  # as code
