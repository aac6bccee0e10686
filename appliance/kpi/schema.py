"""The KPI tables (migration set ``werkvloer.kpi``) and their column names.

Tables (all timestamps UTC ns; durations s from the monotonic clock):
- ``kpi_minute`` / ``kpi_hour`` / ``kpi_shift`` / ``kpi_day``: pre-aggregated
  periods. Every write is an additive delta applied to all four in one
  transaction (``buckets.apply_delta``), so the engine (core process) and user
  entries (UI process) never overwrite each other. ``sched`` = 1 for planned
  minutes (inside a shift, outside breaks and non-working days); shift rows
  hold planned minutes only.
- ``kpi_state``: state intervals (raw state from the signals), each part of at
  most one stop.
- ``kpi_stops``: stops (contiguous not-running time) with their reason.
- ``kpi_periods``: baseline and pilot periods marked by the coordinator.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils.migrations import Migrations

from .calendar import NS

migrations = Migrations("werkvloer.kpi")

COLS = ("run_s", "idle_s", "down_s", "pdown_s", "setup_s", "nodata_s", "micro_n", "micro_s",
        "pq", "gq", "sq", "ideal_s", "energy_kwh")
STATE_COL = {"running": "run_s", "idle": "idle_s", "down": "down_s", "planned_down": "pdown_s",
             "setup": "setup_s", "no_data": "nodata_s"}
HOUR_NS = 3600 * NS

_COLDEF = ", ".join(f"{c} REAL NOT NULL DEFAULT 0" for c in COLS)


@migrations()
def m001_kpi_tables(db: Any) -> None:
    db.execute(f"CREATE TABLE kpi_minute (ts INTEGER PRIMARY KEY, sched INTEGER NOT NULL, "
               f"shift_key TEXT, day TEXT NOT NULL, {_COLDEF})")
    db.execute(f"CREATE TABLE kpi_hour (ts INTEGER NOT NULL, sched INTEGER NOT NULL, {_COLDEF}, "
               f"PRIMARY KEY (ts, sched))")
    db.execute(f"CREATE TABLE kpi_shift (shift_key TEXT PRIMARY KEY, name TEXT NOT NULL, day TEXT NOT NULL, "
               f"start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, {_COLDEF})")
    db.execute("CREATE INDEX kpi_shift_start ON kpi_shift(start_ts)")
    db.execute(f"CREATE TABLE kpi_day (day TEXT NOT NULL, sched INTEGER NOT NULL, {_COLDEF}, "
               f"PRIMARY KEY (day, sched))")
    db.execute("""
        CREATE TABLE kpi_stops (
            id INTEGER PRIMARY KEY,
            start_ts INTEGER NOT NULL,
            end_ts INTEGER,
            dur_s REAL NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            micro INTEGER NOT NULL DEFAULT 0,
            sched INTEGER NOT NULL,
            day TEXT NOT NULL,
            shift_key TEXT,
            reason TEXT,
            planned INTEGER NOT NULL DEFAULT 0,
            reason_role TEXT,
            reason_ts INTEGER,
            comment TEXT,
            split_from INTEGER
        )""")
    db.execute("CREATE INDEX kpi_stops_start ON kpi_stops(start_ts)")
    db.execute("""
        CREATE TABLE kpi_state (
            id INTEGER PRIMARY KEY,
            start_ts INTEGER NOT NULL,
            end_ts INTEGER NOT NULL,
            dur_s REAL NOT NULL,
            state TEXT NOT NULL,
            stop_id INTEGER REFERENCES kpi_stops(id)
        )""")
    db.execute("CREATE INDEX kpi_state_start ON kpi_state(start_ts)")
    db.execute("CREATE INDEX kpi_state_stop ON kpi_state(stop_id)")
    db.execute("""
        CREATE TABLE kpi_periods (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('baseline', 'pilot')),
            start_ts INTEGER NOT NULL,
            end_ts INTEGER NOT NULL,
            role TEXT NOT NULL,
            ts INTEGER NOT NULL,
            note TEXT,
            active INTEGER NOT NULL DEFAULT 1
        )""")
