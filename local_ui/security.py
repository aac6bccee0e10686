"""Roles, PINs, lockout and CSRF for the local UI.

- The operator needs no login on the local kiosk (request from loopback);
  maintenance, coordinator and admin log in with a PIN. From another host
  every role logs in, and only once an admin has turned remote access on.
- PINs: ``hashlib.scrypt`` with a random salt per PIN; compared in constant
  time. After ``MAX_FAILURES`` wrong PINs for a role from one client that
  role is locked for ``LOCKOUT_S`` for that client.
- Every state-changing request carries the session's CSRF token (form field
  ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import sqlite_utils

from appliance.errors import PermissionDenied, WerkvloerError

# The roles and the check live in appliance.roles; re-exported for the routers.
from appliance.roles import CAPABILITIES as CAPABILITIES
from appliance.roles import LOGIN_ROLES as LOGIN_ROLES
from appliance.roles import ROLES as ROLES
from appliance.roles import may as may
from appliance.roles import require as require

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

PIN_MIN_LEN = 4
PIN_MAX_LEN = 12
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
LOCKOUT_S = 5 * 60
# scrypt cost: n=2**14, r=8 (~16 MiB, ~50 ms on a Pi 4): slow enough to make
# guessing a 4-6 digit PIN offline expensive, fast enough for a login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class PinError(WerkvloerError, ValueError):
    """A PIN is malformed; the message says what a valid PIN looks like."""


class LockedOut(PermissionDenied):
    """Too many wrong PINs; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many wrong PINs; try again in {retry_after_s} s")


def validate_pin(pin: str) -> str:
    if not (pin.isascii() and pin.isdigit() and PIN_MIN_LEN <= len(pin) <= PIN_MAX_LEN):
        raise PinError(f"a PIN is {PIN_MIN_LEN} to {PIN_MAX_LEN} digits")
    return pin


def hash_pin(pin: str) -> str:
    validate_pin(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, record: str) -> bool:
    try:
        kind, n, r, p, salt, digest = record.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def has_admin_pin(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM ui_pins WHERE role = 'admin'").fetchone() is not None


def roles_with_pin(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT role FROM ui_pins ORDER BY role").fetchall()]


def set_pin(db: sqlite_utils.Database, role: str, pin: str) -> None:
    if role not in LOGIN_ROLES:
        raise PinError(f"only {', '.join(LOGIN_ROLES)} have a PIN")
    record = hash_pin(pin)
    with db.conn:
        db.execute("INSERT INTO ui_pins(role, hash, updated_ts) VALUES (?, ?, ?) "
                   "ON CONFLICT(role) DO UPDATE SET hash=excluded.hash, updated_ts=excluded.updated_ts",
                   [role, record, time.time_ns()])


def remove_pin(db: sqlite_utils.Database, role: str) -> None:
    if role == "admin":
        raise PinError("the admin PIN can be changed, not removed")
    with db.conn:
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
    with db.conn:
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
