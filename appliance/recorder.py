"""The recorder: the one thread that writes raw samples to SQLite.

It drains the bus queue every ``batch_interval_s`` and writes one transaction
per batch. A write failure (disk full, I/O error) is logged once; the batch is
kept in memory (bounded) and retried, and the guard and drivers go on — they
never wait on this thread. When space returns, writing resumes and an INFO line
says so. Raw samples older than the retention period are deleted in small
chunks; aggregates, alerts and user entries are never touched here.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from .bus import SampleQueue
from .samples import Quality, Sample
from .storage import connect, open_db, signal_ids

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * 1_000_000_000


class Recorder:
    def __init__(self, db_path: str | Path, queue: SampleQueue, *,
                 batch_interval_s: float = 1.0, retention_days: int = 14,
                 signal_meta: dict[str, tuple[str | None, str | None]] | None = None,
                 max_pending: int = 5_000_000, retention_every_s: float = 3600.0,
                 max_db_mb: float | None = None) -> None:
        self.db_path = Path(db_path)
        self.queue = queue
        self.batch_interval_s = batch_interval_s
        self.retention_days = retention_days
        self.signal_meta = dict(signal_meta or {})
        self.max_pending = max_pending
        self.retention_every_s = retention_every_s
        self.max_db_mb = max_db_mb
        self._ids: dict[str, int] = {}
        self._pending_rows: list[tuple] = []
        self._pending_blocks: list[tuple] = []
        self._retry_samples: list[Sample] = []
        self._limit_changed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._failing = False
        self._last_retention = 0.0
        # For health and the systemd watchdog.
        self.progress_mono = time.monotonic()
        self.written = 0
        self.dropped = 0
        self.last_write_utc_ns: int | None = None
        self.last_error: str | None = None

    # ----- lifecycle -------------------------------------------------------
    def start(self) -> None:
        open_db(self.db_path).conn.close()  # create + migrate once, before the thread
        self._conn = connect(self.db_path)
        self._apply_size_limit()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._conn is not None:
            try:
                self._flush(self.queue.drain())
                if self._pending_rows or self._retry_samples:
                    log.error("recorder: %d samples could not be written at shutdown",
                              len(self._pending_rows) + len(self._retry_samples))
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_size_limit(self, max_db_mb: float | None) -> None:
        """Change the database size cap (0/None = none); applied on the next batch."""
        self.max_db_mb = max_db_mb
        self._limit_changed = True

    def _apply_size_limit(self) -> None:
        assert self._conn is not None
        self._limit_changed = False
        page = self._conn.execute("PRAGMA page_size").fetchone()[0]
        pages = int(self.max_db_mb * 1024 * 1024 / page) if self.max_db_mb else 1_073_741_823
        self._conn.execute(f"PRAGMA max_page_count={pages}")

    def health(self) -> dict:
        state = "failing" if self._failing else ("ok" if self.alive else "stopped")
        return {"name": "recorder", "state": state, "written": self.written, "dropped": self.dropped + self.queue.dropped,
                "pending": len(self._pending_rows) + len(self._pending_blocks) + len(self.queue),
                "last_good_utc_ns": self.last_write_utc_ns, "last_error": self.last_error}

    # ----- work ----------------------------------------------------------------
    def _run(self) -> None:
        next_flush = time.monotonic() + self.batch_interval_s
        while not self._stop.is_set():
            self.progress_mono = time.monotonic()
            wait = max(0.0, next_flush - time.monotonic())
            if self._stop.wait(min(wait, 0.5)):
                break
            if time.monotonic() < next_flush:
                continue
            next_flush = time.monotonic() + self.batch_interval_s
            try:
                self._flush(self.queue.drain())
                if time.monotonic() - self._last_retention > self.retention_every_s:
                    self._last_retention = time.monotonic()
                    self.prune()
            except Exception:  # never let the writer thread die silently
                log.exception("recorder loop failed; continuing")

    def _signal_id(self, name: str) -> int:
        sid = self._ids.get(name)
        if sid is None:
            assert self._conn is not None
            unit, source = self.signal_meta.get(name, (None, None))
            self._conn.execute(
                "INSERT INTO signals(name, unit, source) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                [name, unit, source])
            sid = self._conn.execute("SELECT id FROM signals WHERE name = ?", [name]).fetchone()[0]
            self._ids[name] = sid
        return sid

    def _to_rows(self, samples: list[Sample]) -> None:
        """Turn samples into pending rows. A new signal that cannot be
        registered (disk full) leaves it and the rest for the next batch."""
        rows = self._pending_rows
        blocks = self._pending_blocks
        sid_of = self._signal_id
        for i, s in enumerate(samples):
            try:
                sid = sid_of(s.signal)
            except sqlite3.Error as exc:
                self._fail(exc)
                self._retry_samples = samples[i:]
                return
            v = s.value
            if s.block is not None:
                arr = np.asarray(s.block)
                if arr.ndim == 1:  # vibration-like block; frames are kept only with alerts
                    blocks.append((sid, s.utc_ns, s.seq, None, arr.astype("<f4").tobytes(), int(s.quality)))
            if isinstance(v, str):
                rows.append((sid, s.utc_ns, None, v, int(s.quality)))
            elif v is None:
                rows.append((sid, s.utc_ns, None, None, int(s.quality)))
            else:
                fv = float(v)
                if math.isfinite(fv):
                    rows.append((sid, s.utc_ns, fv, None, int(s.quality)))
                else:  # NaN/inf are not values; keep the reading as bad quality
                    rows.append((sid, s.utc_ns, None, None, int(Quality.BAD)))

    def _flush(self, samples: list[Sample]) -> None:
        assert self._conn is not None
        if self._limit_changed:
            self._apply_size_limit()
        samples, self._retry_samples = self._retry_samples + samples, []
        self._to_rows(samples)
        if not self._pending_rows and not self._pending_blocks:
            self.progress_mono = time.monotonic()
            return
        n = len(self._pending_rows)
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT INTO samples(signal_id, ts, value, text, quality) VALUES (?, ?, ?, ?, ?)",
                    self._pending_rows)
                if self._pending_blocks:
                    self._conn.executemany(
                        "INSERT INTO blocks(signal_id, ts, seq, rate_hz, data, quality) VALUES (?, ?, ?, ?, ?, ?)",
                        self._pending_blocks)
        except sqlite3.Error as exc:
            self._fail(exc)
            self._bound_pending()
            return
        self.written += n
        self._pending_rows = []
        self._pending_blocks = []
        self.last_write_utc_ns = time.time_ns()
        self.progress_mono = time.monotonic()
        if self._failing:
            self._failing = False
            self.last_error = None
            log.info("recorder: writing samples again (%d rows caught up)", n)

    def _fail(self, exc: Exception) -> None:
        self.last_error = str(exc)
        if not self._failing:
            self._failing = True
            log.error("recorder: cannot write samples (%s); keeping up to %d in memory and retrying. "
                      "Free disk space on the data partition.", exc, self.max_pending)

    def _bound_pending(self) -> None:
        over = len(self._pending_rows) - self.max_pending
        if over > 0:  # oldest go first; the guard and KPIs never depend on them
            del self._pending_rows[:over]
            self.dropped += over
        over_b = len(self._pending_blocks) - self.max_pending // 100
        if over_b > 0:
            del self._pending_blocks[:over_b]
            self.dropped += over_b

    def prune(self, now_ns: int | None = None) -> int:
        """Delete raw samples and blocks older than the retention period; returns rows deleted."""
        assert self._conn is not None
        cutoff = (now_ns or time.time_ns()) - self.retention_days * NS_PER_DAY
        total = 0
        for table in ("samples", "blocks"):
            while True:  # small chunks keep each write lock short
                with self._conn:
                    cur = self._conn.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE ts < ? LIMIT 20000)",
                        [cutoff])
                total += cur.rowcount
                if cur.rowcount < 20000:
                    break
        return total


def preload_signal_ids(db_path: str | Path, signals: list[tuple[str, str | None, str | None]]) -> dict[str, int]:
    db = open_db(db_path)
    try:
        return signal_ids(db, signals)
    finally:
        db.conn.close()
