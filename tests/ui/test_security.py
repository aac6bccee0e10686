"""Roles, PINs, lockout, CSRF, remote access and sessions (in-process app, real SQLite)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from appliance.database import open_box_db
from local_ui import security, store
from local_ui.app import create_app

from .helpers import csrf

LOCAL = ("127.0.0.1", 40000)
REMOTE = ("192.168.10.7", 40000)


_csrf = csrf  # the other UI tests import it from here


@pytest.fixture
def app(box_config: Any) -> Any:
    return create_app(box_config, session_secret="test-secret")


@pytest.fixture
def db(app: Any, box_config: Any) -> Any:
    d = open_box_db(box_config.db_path, migrate=False)
    yield d
    d.conn.close()


def _client(app: Any, where: tuple[str, int] = LOCAL) -> TestClient:
    return TestClient(app, client=where)


def _setup_admin(app: Any, pin: str = "1234") -> TestClient:
    c = _client(app)
    page = c.get("/")
    assert page.url.path == "/setup"
    r = c.post("/setup", data={"pin": pin, "pin2": pin, "csrf": _csrf(page.text)})
    assert r.status_code == 200 and r.url.path == "/settings"
    return c


def test_pin_hash_is_salted_scrypt_and_checks() -> None:
    a, b = security.hash_pin("4711"), security.hash_pin("4711")
    assert a.startswith("scrypt$") and a != b
    assert security.check_pin("4711", a) and not security.check_pin("4712", a)
    assert not security.check_pin("4711", "garbage")


@pytest.mark.parametrize("pin", ["123", "12a4", "", "1234567890123", "１２３４"])
def test_malformed_pins_are_refused(pin: str) -> None:
    with pytest.raises(security.PinError, match="4 to 12 digits"):
        security.hash_pin(pin)


def test_lockout_after_failures_survives_and_expires(db: Any) -> None:
    store.migrations.apply(db)
    security.set_pin(db, "maintenance", "2468")
    now = 1_000_000.0
    for _ in range(security.MAX_FAILURES - 1):
        assert security.login(db, role="maintenance", pin="0000", client="10.0.0.2", now_s=now) is False
    with pytest.raises(security.LockedOut):
        security.login(db, role="maintenance", pin="0000", client="10.0.0.2", now_s=now)
    # Locked: even the right PIN is refused, for this client only.
    with pytest.raises(security.LockedOut):
        security.login(db, role="maintenance", pin="2468", client="10.0.0.2", now_s=now + 10)
    assert security.login(db, role="maintenance", pin="2468", client="10.0.0.3", now_s=now + 10)
    assert security.login(db, role="maintenance", pin="2468", client="10.0.0.2", now_s=now + security.LOCKOUT_S + 1)


def test_first_start_asks_for_admin_pin_and_there_is_no_default(app: Any, db: Any) -> None:
    c = _client(app)
    assert c.get("/").url.path == "/setup"
    assert c.get("/api/v1/stops").status_code == 409
    assert not security.has_admin_pin(db)
    page = c.get("/setup")
    r = c.post("/setup", data={"pin": "1234", "pin2": "9999", "csrf": _csrf(page.text)})
    assert r.status_code == 422 and not security.has_admin_pin(db)
    _setup_admin(app)
    assert security.has_admin_pin(db)
    assert "1234" not in str(db.execute("SELECT hash FROM ui_pins").fetchall())
    assert db.execute("SELECT count(*) FROM audit WHERE action = 'ui.setup'").fetchone()[0] == 1


def test_state_change_without_csrf_token_is_refused(app: Any, db: Any) -> None:
    c = _setup_admin(app)
    assert c.post("/settings/remote", data={"enabled": "1"}).status_code == 403
    assert c.post("/settings/remote", data={"enabled": "1", "csrf": "forged"}).status_code == 403
    assert c.post("/api/v1/settings/remote-access", json={"enabled": True}).status_code == 403
    token = c.get("/api/v1/session").json()["csrf"]
    r = c.post("/api/v1/settings/remote-access", json={"enabled": True}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    assert db.execute("SELECT count(*) FROM audit WHERE action = 'ui.remote_access'").fetchone()[0] == 1


def test_session_cookie_is_signed_httponly_samesite_strict(app: Any) -> None:
    c = _client(app)
    r = c.get("/setup")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # A tampered cookie is ignored (new session, new token), not trusted.
    c.cookies.set("werkvloer_session", "eyJyb2xlIjogImFkbWluIn0=.forged.sig")
    assert c.get("/api/v1/session").json()["logged_in"] is False


def test_operator_needs_no_login_locally_but_other_roles_do(app: Any) -> None:
    _setup_admin(app)
    c = _client(app)
    assert c.get("/").status_code == 200
    assert c.get("/api/v1/session").json()["role"] == "operator"
    assert c.get("/settings").url.path == "/login"
    assert c.get("/api/v1/alerts").status_code == 401
    assert c.get("/api/v1/settings").status_code == 401


def test_remote_access_is_off_until_admin_turns_it_on_then_login_for_everything(app: Any) -> None:
    admin = _setup_admin(app)
    remote = _client(app, REMOTE)
    assert remote.get("/").status_code == 403
    assert remote.get("/api/v1/health").status_code == 403
    token = admin.get("/api/v1/session").json()["csrf"]
    assert admin.post("/settings/remote", data={"enabled": "1", "csrf": token}).status_code == 200
    assert remote.get("/").url.path == "/login"  # no operator role from another host
    assert remote.get("/api/v1/stops").status_code == 401
    token = remote.get("/api/v1/session").json()["csrf"]
    r = remote.post("/api/v1/session", json={"role": "admin", "pin": "1234"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert remote.get("/").status_code == 200


def test_roles_are_checked_on_every_change(app: Any, db: Any) -> None:
    admin = _setup_admin(app)
    tok = admin.get("/api/v1/session").json()["csrf"]
    admin.post("/settings/pin", data={"role": "coordinator", "pin": "5555", "pin2": "5555", "csrf": tok})
    c = _client(app)
    tok = c.get("/api/v1/session").json()["csrf"]
    r = c.post("/api/v1/session", json={"role": "coordinator", "pin": "5555"}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 200
    tok = r.json()["csrf"]
    # A coordinator may not arm the guard, touch alerts or settings.
    assert c.post("/api/v1/guard/mode", json={"mode": "armed"}, headers={"X-CSRF-Token": tok}).status_code == 403
    assert c.post("/api/v1/alerts/1/ack", headers={"X-CSRF-Token": tok}).status_code == 403
    assert c.post("/api/v1/settings/remote-access", json={"enabled": True},
                  headers={"X-CSRF-Token": tok}).status_code == 403
    actions = [r[0] for r in db.execute("SELECT action FROM audit ORDER BY id").fetchall()]
    assert "ui.pin_set" in actions and "ui.login" in actions


def test_wrong_pins_lock_the_login_screen(app: Any) -> None:
    _setup_admin(app)
    c = _client(app)
    for _ in range(security.MAX_FAILURES):
        page = c.get("/login")
        r = c.post("/login", data={"role": "admin", "pin": "0000", "csrf": _csrf(page.text), "next": "/"})
        assert r.status_code == 401
    page = c.get("/login")
    r = c.post("/login", data={"role": "admin", "pin": "1234", "csrf": _csrf(page.text), "next": "/"})
    assert r.status_code == 401 and "Te vaak" in r.text
