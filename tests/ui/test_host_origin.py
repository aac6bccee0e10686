"""Issue 16: no way in through a browser or a copied database.

The in-process app over a real SQLite file, with the box's real key file
(no ``session_secret`` override): a foreign Host or Origin is refused, every
response carries the framing and content headers, and a cookie signed with
anything found in a copy of the database is not accepted.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import itsdangerous
import pytest
from starlette.testclient import TestClient

from appliance.keys import key_path, session_key
from appliance.storage import open_db, set_setting
from local_ui import security, store
from local_ui.app import create_app

BOX = "http://127.0.0.1"


@pytest.fixture
def app(box_config: Any) -> Any:
    db = open_db(box_config.db_path)
    store.migrations.apply(db)
    security.set_pin(db, "admin", "246810")
    db.conn.close()
    return create_app(box_config)


def _admin(app: Any) -> TestClient:
    c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX)
    csrf = c.get("/api/v1/session").json()["csrf"]
    r = c.post("/api/v1/session", json={"role": "admin", "pin": "246810"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    return c


def test_foreign_host_is_refused_and_gets_no_token(app: Any) -> None:
    c = TestClient(app, client=("127.0.0.1", 40000), base_url="http://evil.example")
    r = c.get("/api/v1/session")
    assert r.status_code == 400
    assert "csrf" not in r.text and "ui.allowed_hosts" in r.json()["detail"]
    # DNS rebinding of the box's own port: a foreign name with the right port is still foreign.
    r = TestClient(app, base_url="http://evil.example:8080").get("/")
    assert r.status_code == 400


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1.evil.example"])
def test_foreign_origin_gets_no_token_and_cannot_reset_the_guard(app: Any, origin: str) -> None:
    c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX)
    r = c.get("/api/v1/session", headers={"Origin": origin})
    assert r.status_code == 403 and "csrf" not in r.json()
    csrf = c.get("/api/v1/session").json()["csrf"]  # even with a valid token from the box itself
    r = c.post("/api/v1/guard/reset", headers={"Origin": origin, "X-CSRF-Token": csrf})
    assert r.status_code == 403 and "refused" in r.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:8080", "192.168.10.7"])
def test_loopback_names_and_addresses_are_served(app: Any, host: str) -> None:
    c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX)
    r = c.get("/api/v1/session", headers={"Host": host, "Origin": f"http://{host}"})
    assert r.status_code == 200 and r.json()["csrf"]


def test_configured_remote_name_is_served(box_config: Any) -> None:
    cfg = box_config.model_copy(update={"ui": box_config.ui.model_copy(update={"allowed_hosts": ["box.hal3.example"]})})
    c = TestClient(create_app(cfg), client=("127.0.0.1", 40000), base_url="http://box.hal3.example")
    assert c.get("/api/v1/session", headers={"Origin": "http://box.hal3.example"}).status_code == 200


def test_every_response_forbids_framing_and_foreign_content(app: Any) -> None:
    c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX)
    for path in ("/", "/api/v1/session", "/static/app.css", "/nope"):
        h = c.get(path).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert "default-src 'self'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"


def test_a_500_from_deep_inside_carries_the_headers_too(app: Any, box_config: Any) -> None:
    """A failure below the routes (here a database that is no longer one) is answered by Starlette's
    outermost error middleware; the headers must be on that answer as well."""
    c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX, raise_server_exceptions=False)
    assert c.get("/api/v1/stops").status_code == 200
    for suffix in ("", "-wal", "-shm"):
        Path(f"{box_config.db_path}{suffix}").unlink(missing_ok=True)
    box_config.db_path.write_bytes(b"this is not a database" * 512)
    for path in ("/api/v1/stops", "/stops"):
        r = c.get(path)
        assert r.status_code == 500 and r.json()["detail"].startswith("internal error"), path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", path


def test_session_key_is_a_private_file_and_data_is_not_world_readable(app: Any, box_config: Any) -> None:
    data = Path(box_config.box.data_dir)
    assert stat.S_IMODE(key_path(data).stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) & 0o027 == 0
    assert stat.S_IMODE(box_config.db_path.stat().st_mode) & 0o137 == 0  # at most 0640


def test_a_cookie_forged_from_a_copied_database_is_refused(box_config: Any, tmp_path: Path) -> None:
    # A database from before issue 16 holds the old cookie key as a setting.
    db = open_db(box_config.db_path)
    store.migrations.apply(db)
    security.set_pin(db, "admin", "246810")
    set_setting(db, "ui.session_secret", "old-secret-from-the-database")
    db.conn.close()
    app = create_app(box_config)
    assert _admin(app).get("/api/v1/settings").status_code == 200  # a real login works

    copy = tmp_path / "stolen.db"
    shutil.copy(box_config.db_path, copy)
    raw = copy.read_bytes()
    key = session_key(box_config.box.data_dir)
    assert b"old-secret-from-the-database" not in raw and key not in raw and key.hex().encode() not in raw

    payload = base64.b64encode(json.dumps({"role": "admin", "role_until": time.time() + 3600,
                                           "csrf": "x"}).encode())
    for secret in ("old-secret-from-the-database", "test-secret", ""):
        forged = itsdangerous.TimestampSigner(secret).sign(payload).decode()
        c = TestClient(app, client=("127.0.0.1", 40000), base_url=BOX, cookies={"werkvloer_session": forged})
        assert c.get("/api/v1/settings").status_code == 401, secret
        assert c.get("/api/v1/session").json()["role"] == "operator"  # the kiosk default, not admin


def test_pages_work_under_the_content_security_policy(stack: Any, page_factory: Any) -> None:
    """Real Chromium enforcing the policy: no page needs an inline script, a
    style attribute or anything from elsewhere, and the keypad and live values work."""
    from .conftest import login
    from .test_browser import PAGES

    page = page_factory("1280x800", enforce_csp=True)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    login(page, stack.url, "admin")  # the on-screen keypad is script
    for path in PAGES:
        page.goto(stack.url + path)
        page.wait_for_load_state("load")
    assert not violations, violations
