"""The recorder: the one thread that writes raw samples to SQLite.

It drains the bus queue every ``batch_interval_s`` and writes one transaction
per batch (a timer-driven :class:`appliance.dbworker.DbWorker`; its final flush
runs on the stopping thread after the join). A write failure (disk full, I/O error) is logged once; the batch is
kept in memory (bounded) and retried, and the guard and drivers go on — they
never wait on this thread. When space returns, writing resumes and an INFO line
says so. Raw samples older than the retention period are deleted in small
chunks; aggregates, alerts and user entries are never touched here.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from pathlib import Path

import numpy as np

from drivers.samples import Quality, Sample

from .bus import SampleQueue
from .dbworker import DbWorker
from .storage import connect, open_db, write_tx

log = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * 1_000_000_000
_NUMERIC = frozenset({float, int, bool})


def _as_float(v: object) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


class Recorder(DbWorker):
    final_on = "caller"  # what reached the queue after the thread's last round is still written

    def __init__(self, db_path: str | Path, queue: SampleQueue, *,
                 batch_interval_s: float = 1.0, retention_days: int = 14,
                 signal_meta: dict[str, tuple[str | None, str | None]] | None = None,
                 max_pending: int = 5_000_000, retention_every_s: float = 3600.0,
                 max_db_mb: float | None = None) -> None:
        super().__init__(name="recorder", logger=log, interval_s=batch_interval_s)
        self.db_path = Path(db_path)
        self.queue = queue
        self.batch_interval_s = batch_interval_s
        self.retention_days = retention_days
        self.signal_meta = dict(signal_meta or {})
        self.max_pending = max_pending
        self.retention_every_s = retention_every_s
        self.max_db_mb = max_db_mb
        self._ids: dict[str, int] = {}
        self._pending_chunks: list[tuple] = []
        self._pending_n = 0
        self._pending_texts: list[tuple] = []
        self._pending_blocks: list[tuple] = []
        self._retry_samples: list[Sample] = []
        self._limit_changed = False
        self._last_retention = 0.0
        # For health (progress_mono, last_write_utc_ns, last_error: DbWorker).
        self.written = 0
        self.dropped = 0

    # ----- lifecycle (DbWorker) ------------------------------------------------
    def open_conn(self) -> sqlite3.Connection:
        open_db(self.db_path).conn.close()  # create + migrate once, before the thread
        return connect(self.db_path)

    def before_thread(self) -> None:
        self._apply_size_limit()
        # Retention runs at start (a box that was off for weeks drops old
        # samples first) and then every retention_every_s.
        try:
            self.prune()
        except sqlite3.Error as exc:
            log.error("recorder: could not delete old samples at start (%s)", exc)
        self._last_retention = time.monotonic()

    def stop(self, timeout_s: float = 3.0) -> None:
        super().stop(timeout_s)

    def final(self) -> None:
        self._flush(self.queue.drain())
        if self._pending_n or self._retry_samples:
            log.error("recorder: %d samples could not be written at shutdown",
                      self._pending_n + len(self._retry_samples))

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_size_limit(self, max_db_mb: float | None) -> None:
        """Change the database size cap (0/None = none); applied on the next batch."""
        self.max_db_mb = max_db_mb
        self._limit_changed = True

    def _apply_size_limit(self) -> None:
        assert self.conn is not None
        self._limit_changed = False
        page = self.conn.execute("PRAGMA page_size").fetchone()[0]
        pages = int(self.max_db_mb * 1024 * 1024 / page) if self.max_db_mb else 1_073_741_823
        self.conn.execute(f"PRAGMA max_page_count={pages}")

    def health(self) -> dict:
        return {"name": "recorder", "state": self.state, "written": self.written, "dropped": self.dropped + self.queue.dropped,
                "pending": self._pending_n + len(self._pending_texts) + len(self.queue),
                "last_good_utc_ns": self.last_write_utc_ns, "last_error": self.last_error}

    # ----- work ----------------------------------------------------------------
    def work(self) -> None:
        self._flush(self.queue.drain())
        if time.monotonic() - self._last_retention > self.retention_every_s:
            self._last_retention = time.monotonic()
            self.prune()

    def _signal_id(self, name: str) -> int:
        sid = self._ids.get(name)
        if sid is None:
            assert self.conn is not None
            unit, source = self.signal_meta.get(name, (None, None))
            self.conn.execute(
                "INSERT INTO signals(name, unit, source) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                [name, unit, source])
            sid = self.conn.execute("SELECT id FROM signals WHERE name = ?", [name]).fetchone()[0]
            self._ids[name] = sid
        return sid

    def _to_rows(self, samples: list[Sample]) -> None:
        """Group samples per signal into pending chunk rows. A new signal that
        cannot be registered (disk full) stays queued for the next batch."""
        groups: dict[str, list[Sample]] = {}
        other: list[Sample] = []
        fast = _NUMERIC
        for s in samples:  # the hot loop: keep it to a type check and an append
            if s.block is None and s.value.__class__ in fast:
                try:
                    groups[s.signal].append(s)
                except KeyError:
                    groups[s.signal] = [s]
            else:
                other.append(s)
        for s in other:
            try:
                sid = self._signal_id(s.signal)
            except sqlite3.Error as exc:
                self._fail(exc)
                self._retry_samples.append(s)
                continue
            if s.block is not None:
                arr = np.asarray(s.block)
                if arr.ndim == 1:  # vibration-like block; camera frames are kept only with alerts
                    self._pending_blocks.append(
                        (sid, s.utc_ns, s.seq, None, arr.astype("<f4").tobytes(), int(s.quality)))
            v = s.value
            if isinstance(v, str):
                self._pending_texts.append((sid, s.utc_ns, v, int(s.quality)))
            elif s.block is None or v is not None:
                groups.setdefault(s.signal, []).append(s)
        for name, group in groups.items():
            try:
                sid = self._signal_id(name)
            except sqlite3.Error as exc:
                self._fail(exc)
                self._retry_samples.extend(group)
                continue
            n = len(group)
            stamps = np.fromiter([s.utc_ns for s in group], "<i8", n)
            values = np.fromiter([_as_float(s.value) for s in group], "<f8", n)
            quality = np.fromiter([s.quality for s in group], "u1", n)
            # NaN/inf are not values: keep the reading, as bad quality.
            quality[~np.isfinite(values) & (quality == Quality.GOOD)] = Quality.BAD
            self._pending_chunks.append((sid, int(stamps.min()), int(stamps.max()), n,
                                         stamps.tobytes(), values.tobytes(), quality.tobytes()))
            self._pending_n += n

    def _flush(self, samples: list[Sample]) -> None:
        assert self.conn is not None
        if self._limit_changed:
            self._apply_size_limit()
        samples, self._retry_samples = self._retry_samples + samples, []
        self._to_rows(samples)
        if not (self._pending_chunks or self._pending_blocks or self._pending_texts):
            self.progress_mono = time.monotonic()
            return
        n = self._pending_n + len(self._pending_texts)
        try:
            with write_tx(self.conn):
                self.conn.executemany(
                    "INSERT INTO sample_chunks(signal_id, ts_first, ts_last, n, ts, value, quality) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", self._pending_chunks)
                if self._pending_texts:
                    self.conn.executemany(
                        "INSERT INTO text_samples(signal_id, ts, text, quality) VALUES (?, ?, ?, ?)",
                        self._pending_texts)
                if self._pending_blocks:
                    self.conn.executemany(
                        "INSERT INTO blocks(signal_id, ts, seq, rate_hz, data, quality) VALUES (?, ?, ?, ?, ?, ?)",
                        self._pending_blocks)
        except sqlite3.Error as exc:
            self._fail(exc)
            self._bound_pending()
            return
        self.written += n
        self._pending_chunks = []
        self._pending_texts = []
        self._pending_blocks = []
        self._pending_n = 0
        self.write_ok("recorder: writing samples again (%d samples caught up)", n)

    def _fail(self, exc: Exception) -> None:
        self.write_failed(exc, "recorder: cannot write samples (%s); keeping up to %d in memory and retrying. "
                          "Free disk space on the data partition.", exc, self.max_pending)

    def _bound_pending(self) -> None:
        """While writes fail, keep at most ``max_pending`` samples; the oldest go
        first (the guard and KPIs never depend on them)."""
        while self._pending_n > self.max_pending and self._pending_chunks:
            dropped = self._pending_chunks.pop(0)
            self._pending_n -= dropped[3]
            self.dropped += dropped[3]
        over = len(self._pending_blocks) - self.max_pending // 100
        if over > 0:
            del self._pending_blocks[:over]
            self.dropped += over
        over = len(self._pending_texts) - self.max_pending // 100
        if over > 0:
            del self._pending_texts[:over]
            self.dropped += over

    def prune(self, now_ns: int | None = None) -> int:
        """Delete raw sample chunks and blocks older than the retention period; returns rows (chunks) deleted."""
        assert self.conn is not None
        cutoff = (now_ns or time.time_ns()) - self.retention_days * NS_PER_DAY
        total = 0
        for table, ts in (("sample_chunks", "ts_last"), ("text_samples", "ts"), ("blocks", "ts")):
            while True:  # small deletes keep each write lock short
                with write_tx(self.conn):
                    cur = self.conn.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {ts} < ? LIMIT 20000)",
                        [cutoff])
                total += cur.rowcount
                if cur.rowcount < 20000:
                    break
        return total

