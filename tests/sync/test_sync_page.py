"""The UI's sync page for the coordinator: consent with its text, the exact
next payload and its sha256 (the bytes then sent), deliveries; Dutch default."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from appliance.storage import open_db
from local_ui import security
from local_ui.app import create_app
from sync.outbox import Outbox

from .conftest import box_config
from .helpers import fill


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _client(cfg: object, role: str = "coordinator") -> TestClient:
    app = create_app(cfg, session_secret="s")  # type: ignore[arg-type]
    db = open_db(cfg.db_path, migrate=False)  # type: ignore[attr-defined]
    security.set_pin(db, "admin", "1234")
    security.set_pin(db, "coordinator", "5678")
    db.conn.close()
    c = TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 40000))
    page = c.get("/login")
    c.post("/login", data={"role": role, "pin": "5678" if role == "coordinator" else "1234",
                           "csrf": _csrf(page.text), "next": "/"})
    return c


def test_sync_page_consent_and_the_exact_payload(tmp_path: Path) -> None:
    import time

    cfg = box_config(tmp_path / "box", url="https://hub.example.org")
    fill(cfg, 2, end_ns=time.time_ns())
    c = _client(cfg)
    page = c.get("/sync")
    assert page.status_code == 200
    assert "Synchronisatie staat uit" in page.text and "Er gaan nooit namen" in page.text  # Dutch consent text
    # Turning it on without ticking the agreement changes nothing.
    c.post("/sync/consent", data={"level": "kpi", "csrf": _csrf(page.text)})
    with Outbox(cfg) as ob:
        assert ob.consent() == ("off", 0)
    c.post("/sync/consent", data={"level": "kpi", "agree": "1", "csrf": _csrf(page.text)})
    with Outbox(cfg) as ob:
        assert ob.consent() == ("kpi", 1)
        assert ob.conn.execute("SELECT role FROM audit WHERE action = 'sync.consent'").fetchone()[0] == "coordinator"
        sealed = ob.seal()
        assert sealed
        body = ob.body(sealed[0].loan, sealed[0].seq)
    assert body is not None
    page = c.get("/sync").text
    sha = re.search(r'id="payload-sha">([0-9a-f]{64})<', page)
    assert sha and sha.group(1) == hashlib.sha256(body).hexdigest() == sealed[0].sha256
    api = c.get("/api/v1/sync").json()
    assert json.loads(api["payload"]) == json.loads(body) and api["sealed"] is True and api["pending"] == len(sealed)
    c.post("/language", data={"lang": "en", "next": "/sync", "csrf": _csrf(page)})
    english = c.get("/sync").text
    assert "Sync is on at level" in english and "Names, comments, notes" in english


def test_sync_page_needs_coordinator_or_admin(tmp_path: Path) -> None:
    cfg = box_config(tmp_path / "box", url=None)
    app = create_app(cfg, session_secret="s")
    db = open_db(cfg.db_path)
    security.set_pin(db, "admin", "1234")
    db.conn.close()
    c = TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 40000))
    r = c.get("/sync", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/api/v1/sync").status_code == 401
