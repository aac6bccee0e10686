"""The PIN tables: PIN hashes per role and login failures (migration set
``werkvloer.ui``, its name kept so existing boxes do not migrate again).

PINs live here (in the box database), never in the config TOML. The UI checks
them; ``werkvloer provision`` writes them, so the tables belong to the appliance.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("werkvloer.ui")


@migrations()
def m001_pins_and_failures(db: sqlite_utils.Database) -> None:
    # One PIN per role (a small shop has one maintenance tablet, one
    # coordinator, one admin); hash = scrypt record, see local_ui.security.
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
