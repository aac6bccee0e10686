"""Roles, PINs, lockout and CSRF for the local UI.

- The operator needs no login on the local kiosk (request from loopback);
  maintenance, coordinator and admin log in with a PIN. From another host
  every role logs in, and only once an admin has turned remote access on.
- PINs: hashed and checked by ``appliance.pins`` (scrypt, a random salt per
  PIN, compared in constant time; re-exported here). After ``MAX_FAILURES`` wrong PINs for a role from one client that
  role is locked for ``LOCKOUT_S`` for that client.
- Every state-changing request carries the session's CSRF token (form field
  ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
import secrets
import time

import sqlite_utils

from appliance.errors import PermissionDenied

# How a PIN is hashed and checked lives in appliance.pins (werkvloer pin hash uses it too).
from appliance.pins import PIN_MAX_LEN as PIN_MAX_LEN
from appliance.pins import PIN_MIN_LEN as PIN_MIN_LEN
from appliance.pins import PinError as PinError
from appliance.pins import check_pin as check_pin
from appliance.pins import hash_pin as hash_pin
from appliance.pins import validate_pin as validate_pin

# The roles and the check live in appliance.roles; re-exported for the routers.
from appliance.roles import CAPABILITIES as CAPABILITIES
from appliance.roles import LOGIN_ROLES as LOGIN_ROLES
from appliance.roles import ROLES as ROLES
from appliance.roles import may as may
from appliance.roles import require as require
from appliance.storage import write_tx

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
LOCKOUT_S = 5 * 60


class LockedOut(PermissionDenied):
    """Too many wrong PINs; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many wrong PINs; try again in {retry_after_s} s")


def has_admin_pin(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM ui_pins WHERE role = 'admin'").fetchone() is not None


def roles_with_pin(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT role FROM ui_pins ORDER BY role").fetchall()]


def set_pin(db: sqlite_utils.Database, role: str, pin: str) -> None:
    if role not in LOGIN_ROLES:
        raise PinError(f"only {', '.join(LOGIN_ROLES)} have a PIN")
    record = hash_pin(pin)
    with write_tx(db):
        db.execute("INSERT INTO ui_pins(role, hash, updated_ts) VALUES (?, ?, ?) "
                   "ON CONFLICT(role) DO UPDATE SET hash=excluded.hash, updated_ts=excluded.updated_ts",
                   [role, record, time.time_ns()])


def remove_pin(db: sqlite_utils.Database, role: str) -> None:
    if role == "admin":
        raise PinError("the admin PIN can be changed, not removed")
    with write_tx(db):
        db.execute("DELETE FROM ui_pins WHERE role = ?", [role])


def login(db: sqlite_utils.Database, *, role: str, pin: str, client: str, now_s: float | None = None) -> bool:
    """Check a PIN with lockout. True = correct; False = wrong; LockedOut raised
    while the (client, role) pair is locked."""
    now = time.time() if now_s is None else now_s
    now_ns = int(now * 1e9)
    row = db.execute("SELECT failures, first_ts, locked_until_ts FROM ui_login_failures "
                     "WHERE client = ? AND role = ?", [client, role]).fetchone()
    if row and row[2] > now_ns:
        raise LockedOut(int((row[2] - now_ns) / 1e9) + 1)
    rec = db.execute("SELECT hash FROM ui_pins WHERE role = ?", [role]).fetchone()
    ok = rec is not None and check_pin(pin, rec[0])
    with write_tx(db):
        if ok:
            db.execute("DELETE FROM ui_login_failures WHERE client = ? AND role = ?", [client, role])
            return True
        if row is None or now_ns - row[1] > FAILURE_WINDOW_S * 1e9:
            failures, first = 1, now_ns
        else:
            failures, first = row[0] + 1, row[1]
        locked = now_ns + int(LOCKOUT_S * 1e9) if failures >= MAX_FAILURES else 0
        if locked:
            failures = 0  # a fresh window after the lockout ends
            first = now_ns
        db.execute("INSERT INTO ui_login_failures(client, role, failures, first_ts, locked_until_ts) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT(client, role) DO UPDATE SET "
                   "failures=excluded.failures, first_ts=excluded.first_ts, "
                   "locked_until_ts=excluded.locked_until_ts", [client, role, failures, first, locked])
    if locked:
        raise LockedOut(LOCKOUT_S)
    return False


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(expected: str | None, got: str | None) -> bool:
    return bool(expected) and bool(got) and hmac.compare_digest(str(expected), str(got))
