"""PINs: how a PIN is hashed and checked, and the PIN tables (PIN hashes per
role and login failures; migration set ``werkvloer.ui``, its name kept so
existing boxes do not migrate again).

PINs live in the box database, never in the config TOML. The UI checks them
(``local_ui.security``: login, lockout); ``werkvloer provision`` writes the
hashes from the provisioning file, and ``werkvloer pin hash`` makes one for it.

A hash is ``hashlib.scrypt`` with a random salt per PIN, stored as
``scrypt$N$r$p$salt$digest``; checked in constant time.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import re
import secrets
import sys

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import WerkvloerError

migrations = Migrations("werkvloer.ui")

PIN_MIN_LEN = 4
PIN_MAX_LEN = 12
# scrypt cost: n=2**14, r=8 (~16 MiB, ~50 ms on a Pi 4): slow enough to make
# guessing a 4-6 digit PIN offline expensive, fast enough for a login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# What :func:`hash_pin` writes (the provisioning file accepts nothing else).
PIN_RECORD = re.compile(r"^scrypt\$\d+\$\d+\$\d+\$[0-9a-f]{32}\$[0-9a-f]{64}$")


class PinError(WerkvloerError, ValueError):
    """A PIN is malformed; the message says what a valid PIN looks like."""


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


@migrations()
def m001_pins_and_failures(db: sqlite_utils.Database) -> None:
    # One PIN per role (a small shop has one maintenance tablet, one
    # coordinator, one admin); hash = scrypt record (hash_pin).
    db.execute("""
        CREATE TABLE ui_pins (
            role TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            updated_ts INTEGER NOT NULL
        )""")
    # Failed logins per (client, role): persisted so a restart does not lift
    # a lockout.
    db.execute("""
        CREATE TABLE ui_login_failures (
            client TEXT NOT NULL,
            role TEXT NOT NULL,
            failures INTEGER NOT NULL,
            first_ts INTEGER NOT NULL,
            locked_until_ts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (client, role)
        )""")


def _read_pin() -> str:
    """The PIN from the terminal, asked twice and not echoed; from a pipe, its first line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    pin = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != pin:
        raise PinError("the two PINs differ; nothing printed, try again")
    return pin


def main(argv: list[str] | None = None) -> int:
    """``werkvloer pin hash``: print the hash of a PIN for ``[pins]`` in werkvloer-provision.toml."""
    p = argparse.ArgumentParser(prog="werkvloer pin", description=(
        "PIN hashes for the provisioning file: `werkvloer pin hash` asks for a PIN (or reads one line from "
        "standard input) and prints its scrypt hash, the value for [pins] in werkvloer-provision.toml."))
    p.add_argument("verb", choices=["hash"])
    p.parse_args(argv)
    from .exitcodes import run_command

    return run_command("werkvloer pin hash", lambda: print(hash_pin(_read_pin())))
