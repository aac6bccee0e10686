"""The guard's tables: trips with their latency timestamps, shadow-model agreement.

The guard thread never touches SQLite: it hands :class:`TripRecord` and other
records to a :class:`GuardWriter` (a queue drained by its own thread with its
own connection). The read functions below are pure reads for the UI and API
(``GET /api/v1/guard``): status, trip list, latency histogram and
p50/p99/max per output kind.

Timestamps: ``ts`` columns are UTC ns (storage); ``*_mono_ns`` columns are
``time.monotonic_ns()`` of the core process (latency only: compare them
within one trip, never across a reboot).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from appliance.dbworker import DbWorker
from appliance.storage import audit_row, write_tx

log = logging.getLogger(__name__)

migrations = Migrations("werkvloer.guard")


def open_db(path: str | Path) -> sqlite_utils.Database:
    """The box database with the guard's tables (created if missing)."""
    from appliance.storage import open_db as open_box_file

    return open_box_file(path, sets=[migrations])


MODE_KEY = "guard.mode"
MODES = ("off", "shadow", "armed")


@migrations()
def m001_trips(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE guard_trips (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            mode TEXT NOT NULL,
            cause_kind TEXT NOT NULL,
            cause TEXT NOT NULL,
            signal TEXT,
            model TEXT,
            model_version TEXT,
            score REAL,
            threshold REAL,
            sample_mono_ns INTEGER NOT NULL,
            inference_done_mono_ns INTEGER,
            decided_mono_ns INTEGER NOT NULL,
            detail TEXT,
            reset_ts INTEGER,
            reset_role TEXT,
            reset_source TEXT
        )""")
    db.execute("CREATE INDEX guard_trips_ts ON guard_trips(ts)")
    # One row per output fired on a trip; latency_ns = done - sample received.
    db.execute("""
        CREATE TABLE guard_trip_outputs (
            trip_id INTEGER NOT NULL REFERENCES guard_trips(id),
            output TEXT NOT NULL,
            kind TEXT NOT NULL,
            done_mono_ns INTEGER NOT NULL,
            latency_ns INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT
        )""")
    db.execute("CREATE INDEX guard_trip_outputs_trip ON guard_trip_outputs(trip_id)")
    # Shadow candidate scored beside the active model on the same windows.
    db.execute("""
        CREATE TABLE guard_shadow_stats (
            binding TEXT NOT NULL,
            model TEXT NOT NULL,
            active_version TEXT NOT NULL,
            shadow_version TEXT NOT NULL,
            windows INTEGER NOT NULL,
            both_hit INTEGER NOT NULL,
            active_only INTEGER NOT NULL,
            shadow_only INTEGER NOT NULL,
            neither INTEGER NOT NULL,
            active_trips INTEGER NOT NULL,
            shadow_trips INTEGER NOT NULL,
            mean_abs_diff REAL,
            updated_ts INTEGER NOT NULL,
            PRIMARY KEY (binding, active_version, shadow_version)
        )""")


@migrations()
def m002_open_trip_index(db: sqlite_utils.Database) -> None:
    # Latched trips (armed, not reset): a reset updates them, the status reads them.
    # Partial, so it stays tiny however many trips the table holds.
    db.execute("CREATE INDEX guard_trips_latched ON guard_trips(id) WHERE mode = 'armed' AND reset_ts IS NULL")


# ----- records handed from the guard to the writer ---------------------------------

@dataclasses.dataclass(slots=True)
class OutputResult:
    name: str
    kind: str
    done_mono_ns: int
    ok: bool
    error: str | None = None


@dataclasses.dataclass(slots=True)
class TripRecord:
    ts: int
    mode: str
    cause_kind: str  # model | rule
    cause: str
    sample_mono_ns: int
    decided_mono_ns: int
    signal: str | None = None
    model: str | None = None
    model_version: str | None = None
    score: float | None = None
    threshold: float | None = None
    inference_done_mono_ns: int | None = None
    detail: str | None = None
    outputs: list[OutputResult] = dataclasses.field(default_factory=list)
    trip_id: int | None = None  # set by the writer


@dataclasses.dataclass(slots=True)
class ResetRecord:
    ts: int
    role: str
    source: str


@dataclasses.dataclass(slots=True)
class AuditRecord:
    ts: int
    role: str
    action: str
    target: str | None
    detail: str | None


@dataclasses.dataclass(slots=True)
class SettingRecord:
    key: str
    value: str


@dataclasses.dataclass(slots=True)
class ShadowStatsRecord:
    binding: str
    model: str
    active_version: str
    shadow_version: str
    windows: int
    both_hit: int
    active_only: int
    shadow_only: int
    neither: int
    active_trips: int
    shadow_trips: int
    mean_abs_diff: float | None


class GuardWriter(DbWorker):
    """One thread, one connection: drains records the guard thread queued.

    A queue-driven :class:`appliance.dbworker.DbWorker`. ``put`` is a
    ``SimpleQueue.put`` (never blocks). A failed write is logged once (ERROR)
    and the record kept for the next attempt, so nothing is lost while the
    disk is briefly full or locked; ``stop`` writes what is queued first.
    """

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(name="guard-writer", logger=log)
        self.db_path = Path(db_path)
        self._db: sqlite_utils.Database | None = None
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._written = 0
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._lock = threading.Lock()

    def open_conn(self) -> sqlite3.Connection:
        self._db = open_db(self.db_path)
        return self._db.conn

    def put(self, record: Any) -> None:
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._q.put(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown)."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        super().stop(timeout)

    def not_finished(self, timeout: float) -> None:
        log.error("guard: the trip writer did not finish within %.0f s; %d record(s) not stored",
                  timeout, self._pending)

    def wake(self) -> None:
        self._q.put(None)

    @property
    def written(self) -> int:
        return self._written

    def work(self) -> None:
        try:
            batch = [self._q.get(timeout=self.poll_s)]
        except queue.Empty:
            return
        self._write_batch(batch)

    def final(self) -> None:
        while not self._q.empty():  # everything queued before the stop, in batches
            self._write_batch([])

    def _write_batch(self, batch: list[Any]) -> None:
        # Everything queued meanwhile goes into the same transaction (a burst of
        # trips and resets costs one commit, not one per record).
        while len(batch) < 1000:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        batch = [r for r in batch if r is not None]  # None: the stop's wake-up
        if not batch:
            return
        assert self._db is not None
        while True:
            try:
                with write_tx(self._db):
                    for record in batch:
                        _write(self._db, record)
                break
            except Exception as exc:  # sqlite3.OperationalError: locked, disk full
                self.write_failed(exc, "guard: could not store %d record(s) (%s); keeping them and retrying",
                                  len(batch), exc)
                time.sleep(0.5)
        self.write_ok("guard: storing trips works again")
        self._written += len(batch)
        with self._lock:
            self._pending -= len(batch)
            if self._pending == 0:
                self._idle.set()


def _write(db: sqlite_utils.Database, record: Any) -> None:
    """One record, inside the caller's transaction."""
    conn = db.conn
    if isinstance(record, TripRecord):
        cur = conn.execute(
            "INSERT INTO guard_trips(ts, mode, cause_kind, cause, signal, model, model_version, score, "
            "threshold, sample_mono_ns, inference_done_mono_ns, decided_mono_ns, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [record.ts, record.mode, record.cause_kind, record.cause, record.signal, record.model,
             record.model_version, _finite(record.score), _finite(record.threshold), record.sample_mono_ns,
             record.inference_done_mono_ns, record.decided_mono_ns, record.detail])
        trip_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO guard_trip_outputs(trip_id, output, kind, done_mono_ns, latency_ns, ok, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(trip_id, o.name, o.kind, o.done_mono_ns, o.done_mono_ns - record.sample_mono_ns,
              int(o.ok), o.error) for o in record.outputs])
        record.trip_id = trip_id
        return
    if isinstance(record, ResetRecord):
        conn.execute("UPDATE guard_trips SET reset_ts = ?, reset_role = ?, reset_source = ? "
                     "WHERE mode = 'armed' AND reset_ts IS NULL", [record.ts, record.role, record.source])
        return
    if isinstance(record, AuditRecord):
        audit_row(conn, role=record.role, action=record.action, target=record.target, detail=record.detail,
                  ts=record.ts)
        return
    if isinstance(record, SettingRecord):
        conn.execute("INSERT INTO settings(key, value, updated_ts) VALUES (?, ?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ts=excluded.updated_ts",
                     [record.key, record.value, time.time_ns()])
        return
    if isinstance(record, ShadowStatsRecord):
        conn.execute(
            "INSERT INTO guard_shadow_stats(binding, model, active_version, shadow_version, windows, both_hit, "
            "active_only, shadow_only, neither, active_trips, shadow_trips, mean_abs_diff, updated_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(binding, active_version, shadow_version) "
            "DO UPDATE SET windows=excluded.windows, both_hit=excluded.both_hit, active_only=excluded.active_only, "
            "shadow_only=excluded.shadow_only, neither=excluded.neither, active_trips=excluded.active_trips, "
            "shadow_trips=excluded.shadow_trips, mean_abs_diff=excluded.mean_abs_diff, updated_ts=excluded.updated_ts",
            [record.binding, record.model, record.active_version, record.shadow_version, record.windows,
             record.both_hit, record.active_only, record.shadow_only, record.neither, record.active_trips,
             record.shadow_trips, _finite(record.mean_abs_diff), time.time_ns()])
        return
    raise TypeError(f"guard writer got an unknown record {record!r}")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# ----- reads for the UI and the API ----------------------------------------------------

def stored_mode(db: sqlite_utils.Database, default: str = "shadow") -> str:
    """The mode maintenance last set (settings ``guard.mode``), else ``default``."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [MODE_KEY]).fetchone()
    return row[0] if row and row[0] in MODES else default


def status(db: sqlite_utils.Database) -> dict[str, Any]:
    """What the database knows without the core: stored mode, latched trip, counts.

    The live state (outputs health, model state) comes from the core over IPC
    (``guard.status``); this is the fallback when the core is not running.
    """
    latched = db.execute(
        "SELECT id, ts, cause_kind, cause FROM guard_trips WHERE mode = 'armed' AND reset_ts IS NULL "
        "ORDER BY id DESC LIMIT 1").fetchone()
    counts = dict(db.execute("SELECT mode, count(*) FROM guard_trips GROUP BY mode").fetchall())
    last = db.execute("SELECT max(ts) FROM guard_trips").fetchone()[0]
    return {
        "mode": stored_mode(db),
        "tripped": latched is not None,
        "cause": None if latched is None else {"trip_id": latched[0], "ts": latched[1],
                                               "kind": latched[2], "name": latched[3]},
        "trips": {"armed": counts.get("armed", 0), "shadow": counts.get("shadow", 0)},
        "last_trip_ts": last,
    }


def trips(db: sqlite_utils.Database, *, limit: int = 50, offset: int = 0, mode: str | None = None,
          since_ts: int | None = None) -> list[dict[str, Any]]:
    """Newest first, each with its outputs and stage latencies in ms."""
    where: list[str] = []
    args: list[str | int] = []
    if mode is not None:
        where.append("mode = ?")
        args.append(mode)
    if since_ts is not None:
        where.append("ts >= ?")
        args.append(since_ts)
    sql = "SELECT * FROM guard_trips" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    cur = db.execute(sql, [*args, int(limit), int(offset)])
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    if not rows:
        return rows
    ids = [r["id"] for r in rows]
    outs: dict[int, list[dict[str, Any]]] = {}
    q = (f"SELECT trip_id, output, kind, latency_ns, ok, error FROM guard_trip_outputs "
         f"WHERE trip_id IN ({','.join('?' * len(ids))}) ORDER BY rowid")
    for trip_id, name, kind, lat, ok, err in db.execute(q, ids).fetchall():
        outs.setdefault(trip_id, []).append(
            {"name": name, "kind": kind, "latency_ms": lat / 1e6, "ok": bool(ok), "error": err})
    for r in rows:
        s = r["sample_mono_ns"]
        r["inference_ms"] = None if r["inference_done_mono_ns"] is None else (r["inference_done_mono_ns"] - s) / 1e6
        r["decision_ms"] = (r["decided_mono_ns"] - s) / 1e6
        r["outputs"] = outs.get(r["id"], [])
    return rows


def _latencies(db: sqlite_utils.Database, since_ts: int | None, limit: int) -> dict[str, list[int]]:
    args: list[Any] = []
    where = "o.ok = 1"
    if since_ts is not None:
        where += " AND t.ts >= ?"
        args.append(since_ts)
    rows = db.execute(
        "SELECT o.kind, o.latency_ns FROM guard_trip_outputs o JOIN guard_trips t ON t.id = o.trip_id "
        f"WHERE {where} ORDER BY o.rowid DESC LIMIT ?", [*args, int(limit)]).fetchall()
    by_kind: dict[str, list[int]] = {}
    for kind, lat in rows:
        by_kind.setdefault(kind, []).append(int(lat))
    rows = db.execute(
        "SELECT inference_done_mono_ns - sample_mono_ns FROM guard_trips "
        "WHERE inference_done_mono_ns IS NOT NULL" + (" AND ts >= ?" if since_ts is not None else "")
        + " ORDER BY id DESC LIMIT ?", [*args, int(limit)]).fetchall()
    if rows:
        by_kind["inference"] = [int(r[0]) for r in rows]
    return by_kind


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return float(sorted_values[k])


def latency_stats(db: sqlite_utils.Database, *, since_ts: int | None = None,
                  limit: int = 100_000) -> dict[str, dict[str, float | int]]:
    """p50/p99/max (ms) from sample received to output done, per output kind
    (gpio, modbus, opcua) and for inference done ("inference"); successful
    outputs only (a failed output's time is its timeout, not a latency)."""
    out: dict[str, dict[str, float | int]] = {}
    for kind, values in _latencies(db, since_ts, limit).items():
        values.sort()
        out[kind] = {"count": len(values), "p50_ms": percentile(values, 50) / 1e6,
                     "p99_ms": percentile(values, 99) / 1e6, "max_ms": values[-1] / 1e6}
    return out


DEFAULT_BINS_MS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def latency_histogram(db: sqlite_utils.Database, *, bins_ms: tuple[float, ...] = DEFAULT_BINS_MS,
                      since_ts: int | None = None, limit: int = 100_000) -> dict[str, list[dict[str, Any]]]:
    """Per kind: ``[{"le_ms": edge, "count": n}, ..., {"le_ms": None, "count": rest}]``
    (counts per bin, not cumulative; the last bin holds everything above the last edge)."""
    out: dict[str, list[dict[str, Any]]] = {}
    edges_ns = [b * 1e6 for b in bins_ms]
    for kind, values in _latencies(db, since_ts, limit).items():
        counts = [0] * (len(edges_ns) + 1)
        for v in values:
            i = 0
            while i < len(edges_ns) and v > edges_ns[i]:
                i += 1
            counts[i] += 1
        out[kind] = [{"le_ms": (bins_ms[i] if i < len(bins_ms) else None), "count": c}
                     for i, c in enumerate(counts)]
    return out


def shadow_stats(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Agreement of each shadow candidate with the active model (per window and per trip)."""
    cur = db.execute("SELECT * FROM guard_shadow_stats ORDER BY updated_ts DESC")
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["agreement"] = (r["both_hit"] + r["neither"]) / r["windows"] if r["windows"] else None
    return rows


def summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """Everything ``GET /api/v1/guard`` shows from the database, in one dict."""
    return {"status": status(db), "trips": trips(db, limit=20), "latency": latency_stats(db),
            "histogram": latency_histogram(db), "shadow": shadow_stats(db)}


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
