"""SQLite tables of the model registry (migration set ``werkvloer.models``).

Listed in ``appliance.database.BOX_MIGRATIONS``, so ``open_box_db`` creates
them with the rest of the box database.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("werkvloer.models")


@migrations()
def m001_registry(db: sqlite_utils.Database) -> None:
    # Every model version the box knows: shipped ones (path inside the
    # package) and installed ones (path under <data_dir>/models/<id>/<version>).
    db.execute("""
        CREATE TABLE model_versions (
            model_id TEXT NOT NULL,
            version TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('shipped', 'installed')),
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            manifest TEXT NOT NULL,
            installed_ts INTEGER NOT NULL,
            installed_by TEXT,
            PRIMARY KEY (model_id, version)
        )""")
    # Which version holds a slot (active / shadow) now. No row for 'active'
    # = the newest shipped version (the baseline).
    db.execute("""
        CREATE TABLE model_slots (
            model_id TEXT NOT NULL,
            slot TEXT NOT NULL CHECK (slot IN ('active', 'shadow')),
            version TEXT,
            since_ts INTEGER NOT NULL,
            by_role TEXT,
            PRIMARY KEY (model_id, slot)
        )""")
    # Every slot change, replayed as a stack for rollback.
    db.execute("""
        CREATE TABLE model_slot_history (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            model_id TEXT NOT NULL,
            slot TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('activate', 'rollback', 'clear')),
            version TEXT,
            by_role TEXT
        )""")
    db.execute("CREATE INDEX model_slot_history_model ON model_slot_history(model_id, slot, id)")
    # Shadow comparison figures the guard reports (agreement, correlation).
    db.execute("""
        CREATE TABLE model_shadow_stats (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            model_id TEXT NOT NULL,
            active_version TEXT,
            shadow_version TEXT NOT NULL,
            n INTEGER NOT NULL,
            agreement_rate REAL,
            correlation REAL,
            detail TEXT
        )""")
