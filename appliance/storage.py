"""The local SQLite database: one file, WAL, versioned migrations.

Each area owns a ``sqlite_utils.migrations.Migrations`` set in its own module
(core tables here; alerts, KPIs, content progress, guard beside their code);
``MIGRATION_SETS`` lists them in the order they are applied.

Writers: the core's recorder thread writes samples; every other writer (UI
user entries, KPI aggregator, alert store) opens its own connection and keeps
transactions short. ``busy_timeout`` covers the overlap.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils
from sqlite_utils.migrations import Migrations

from .keys import DATA_DIR_MODE, secure_data_dir

core = Migrations("werkvloer.core")


@core()
def m001_signals_and_samples(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE signals (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            unit TEXT,
            source TEXT
        )""")
    # Raw samples, stored in columnar chunks: one row per signal per recorder
    # batch, with the timestamps (int64 UTC ns), values (float64) and
    # qualities (uint8) as little-endian arrays. Row-per-sample tops out near
    # 100k inserts/s on a Pi-class CPU; chunks take millions, and the SD card
    # sees a fraction of the writes. Read them with ``read_samples``.
    db.execute("""
        CREATE TABLE sample_chunks (
            signal_id INTEGER NOT NULL,
            ts_first INTEGER NOT NULL,
            ts_last INTEGER NOT NULL,
            n INTEGER NOT NULL,
            ts BLOB NOT NULL,
            value BLOB NOT NULL,
            quality BLOB NOT NULL
        )""")
    db.execute("CREATE INDEX sample_chunks_signal_ts ON sample_chunks(signal_id, ts_last)")
    # Text values (product ids, PLC strings) are rare: one row each.
    db.execute("""
        CREATE TABLE text_samples (
            signal_id INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            text TEXT,
            quality INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("CREATE INDEX text_samples_signal_ts ON text_samples(signal_id, ts)")
    # Vibration and other blocks: one row per received block, samples as
    # little-endian float32 BLOB; seq = sequence number of the first sample.
    db.execute("""
        CREATE TABLE blocks (
            signal_id INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            seq INTEGER,
            rate_hz REAL,
            data BLOB NOT NULL,
            quality INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("CREATE INDEX blocks_signal_ts ON blocks(signal_id, ts)")


@core()
def m002_events_and_audit(db: sqlite_utils.Database) -> None:
    # Box events: start/stop, clock jumps, disk problems. ts = UTC ns.
    db.execute("""
        CREATE TABLE box_events (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT
        )""")
    # Who (role) changed what, and when. Kept forever.
    db.execute("""
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT
        )""")
    # Small key/value state shared between processes (guard mode, etc.).
    db.execute("""
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_ts INTEGER NOT NULL
        )""")


def connect(path: str | Path, *, readonly: bool = False, timeout_s: float = 5.0) -> sqlite3.Connection:
    """A plain sqlite3 connection with the box's pragmas."""
    p = Path(path)
    if readonly:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False)
    else:
        conn = sqlite3.connect(p, timeout=timeout_s, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power cut loses at most the last commits, never
        # corrupts the file (sqlite.org/pragma.html#pragma_synchronous).
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_db(path: str | Path, *, migrate: bool = True, sets: Iterable[Migrations] = ()) -> sqlite_utils.Database:
    """Open the box database, creating the core tables and those of ``sets``.

    A part passes the migration sets of the tables it uses; the processes
    (core, ui, sync, the CLI tools) open it through
    :func:`appliance.database.open_box_db`, which passes every set.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    db = sqlite_utils.Database(connect(p))
    secure_data_dir(p.parent, p)  # issue 16: nobody else reads the box's data
    if migrate:
        for mset in (core, *sets):
            mset.apply(db)
    return db


def read_samples(conn: sqlite3.Connection | sqlite_utils.Database, signal: str, t0_ns: int, t1_ns: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric samples of ``signal`` with t0 <= ts < t1: (ts int64 ns, value float64, quality uint8)."""
    rows = conn.execute(
        "SELECT c.ts, c.value, c.quality FROM sample_chunks c JOIN signals s ON s.id = c.signal_id "
        "WHERE s.name = ? AND c.ts_last >= ? AND c.ts_first < ? ORDER BY c.ts_first",
        [signal, t0_ns, t1_ns]).fetchall()
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.uint8)
    ts = np.concatenate([np.frombuffer(r[0], "<i8") for r in rows])
    val = np.concatenate([np.frombuffer(r[1], "<f8") for r in rows])
    q = np.concatenate([np.frombuffer(r[2], "u1") for r in rows])
    keep = (ts >= t0_ns) & (ts < t1_ns)
    return ts[keep], val[keep], q[keep]


def count_samples(conn: sqlite3.Connection | sqlite_utils.Database) -> int:
    return int(conn.execute("SELECT coalesce(sum(n), 0) FROM sample_chunks").fetchone()[0]) + int(
        conn.execute("SELECT count(*) FROM text_samples").fetchone()[0])


def raw_conn(db: Any) -> sqlite3.Connection:
    """The sqlite3 connection of ``db`` (a ``sqlite_utils.Database`` or a connection)."""
    conn: sqlite3.Connection = db.conn if hasattr(db, "conn") else db
    return conn


@contextlib.contextmanager
def write_tx(db: Any) -> Iterator[sqlite3.Connection]:
    """The one write transaction helper: short, and takes the write lock up
    front (``BEGIN IMMEDIATE``), so a busy database waits at the start
    (``busy_timeout``) instead of failing halfway. Commits on success, rolls
    back on any exception and re-raises it."""
    conn = raw_conn(db)
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


def audit_row(conn: sqlite3.Connection, *, role: str, action: str, target: str | None = None,
              detail: Any = None, ts: int | None = None) -> None:
    """One audit row inside the caller's transaction (``write_tx``). ``detail``:
    text is stored as it is, anything else as JSON (keys sorted)."""
    if detail is not None and not isinstance(detail, str):
        detail = json.dumps(detail, sort_keys=True, default=str)
    conn.execute("INSERT INTO audit(ts, role, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                 [ts or time.time_ns(), role, action, target, detail])


def audit(db: sqlite_utils.Database, *, role: str, action: str, target: str | None = None,
          detail: str | None = None, ts: int | None = None) -> None:
    """Append to the audit log in its own short transaction."""
    with write_tx(db) as conn:
        audit_row(conn, role=role, action=action, target=target, detail=detail, ts=ts)


def get_setting(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_setting(db: sqlite_utils.Database, key: str, value: str) -> None:
    with write_tx(db):
        db.execute("INSERT INTO settings(key, value, updated_ts) VALUES (?, ?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ts=excluded.updated_ts",
                   [key, value, time.time_ns()])
