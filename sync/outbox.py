"""The outbox: closed KPI periods sealed once into numbered batches.

Its own tables in the box database, written on a connection with
``synchronous=FULL`` (a sealed batch survives a power cut):

- ``sync_batches``: (loan, seq) -> the frozen payload bytes, their sha256, the
  span they cover and their state (``pending`` / ``delivered`` /
  ``quarantined``). A batch is never changed after sealing and never dropped
  while undelivered; a delivered batch's bytes are kept ``KEEP_DELIVERED_DAYS``.
- ``sync_state``: the sealing watermark, the backoff, the last delivery.
- ``sync_consent``: every consent change with its text version and role.

Sealing (``seal``) takes the closed hours after the watermark, builds at most
``MAX_HOURS`` hour periods per batch (plus the shifts and days that ended in
its span), gives it the next per-loan seq and stores it, and moves the
watermark, all in one transaction. When the undelivered bytes pass the bound
(``[sync] outbox_limit_mb``), the box seals one day-level batch per closed day
instead and raises an alert: fewer, smaller batches, nothing dropped.

Corrections: the digest of every period a batch carried is kept
(``sync_sent_periods``). When a user writes something that can change a
sealed period (a downtime reason given, cleared or split, a baseline or pilot
period marked: every such write is audited), the next seal recomputes the sealed
periods of the last ``CORRECTION_DAYS`` and seals the ones that changed into a
correction batch: a batch like any other (next seq, the same fields, no alert
counts), whose periods replace the hub's copies because their seq is higher.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils.migrations import Migrations

import appliance
from appliance.config import BoxConfig
from appliance.kpi.calendar import ShiftCalendar
from appliance.kpi.oee import KpiRow
from appliance.kpi.queries import get_periods, period_rows
from appliance.storage import connect

from .loan import loan_id
from .schema import AlertCount, Batch, CheckScores, KpiPeriod, canonical_bytes, sha256_hex

log = logging.getLogger(__name__)

migrations = Migrations("werkvloer.sync")

NS = 1_000_000_000
HOUR_NS = 3600 * NS
MAX_HOURS = 48
# An hour is sealed this long after it ended: late counts and a reason entered
# right after a stop still land in it.
SEAL_DELAY_NS = 10 * 60 * NS
KEEP_DELIVERED_DAYS = 30
# A sealed period changed by a later user entry is re-sent this far back.
CORRECTION_DAYS = 62
CORRECTION_PERIODS = 300  # periods per correction batch (the schema allows 400)


@migrations()
def m001_sync_tables(db: Any) -> None:
    db.execute("""
        CREATE TABLE sync_batches (
            loan TEXT NOT NULL,
            seq INTEGER NOT NULL,
            granularity TEXT NOT NULL,
            span_start INTEGER NOT NULL,
            span_end INTEGER NOT NULL,
            sealed_ts INTEGER NOT NULL,
            body BLOB,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'quarantined')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            done_ts INTEGER,
            PRIMARY KEY (loan, seq)
        )""")
    db.execute("CREATE INDEX sync_batches_state ON sync_batches(state, loan, seq)")
    db.execute("CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("""
        CREATE TABLE sync_consent (
            id INTEGER PRIMARY KEY,
            level TEXT NOT NULL CHECK (level IN ('off', 'kpi', 'kpi+check')),
            version INTEGER NOT NULL,
            role TEXT NOT NULL,
            ts INTEGER NOT NULL
        )""")


@migrations()
def m002_sent_periods(db: Any) -> None:
    db.execute("""
        CREATE TABLE sync_sent_periods (
            loan TEXT NOT NULL,
            granularity TEXT NOT NULL,
            start_ts INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (loan, granularity, start_ts)
        )""")
    # A box that sealed before this table existed: the digests of what its kept batches carried.
    from .schema import parse_batch

    for seq, body in db.execute("SELECT seq, body FROM sync_batches WHERE body IS NOT NULL ORDER BY seq").fetchall():
        batch = parse_batch(bytes(body))
        db.conn.executemany(
            "INSERT INTO sync_sent_periods(loan, granularity, start_ts, sha256, seq) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(loan, granularity, start_ts) DO UPDATE SET sha256 = excluded.sha256, seq = excluded.seq",
            [[batch.loan, p.granularity, p.start_ts, period_digest(p), seq] for p in batch.periods])


def period_digest(p: KpiPeriod) -> str:
    return sha256_hex(json.dumps(p.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode())


@dataclass(frozen=True)
class Sealed:
    loan: str
    seq: int
    granularity: str
    span_start: int
    span_end: int
    sha256: str
    size: int
    state: str
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    sealed_ts: int = 0
    done_ts: int | None = None


class Outbox:
    """The box's side of sync. ``clock`` returns UTC ns (injected in tests)."""

    def __init__(self, cfg: BoxConfig, *, clock: Callable[[], int] = time.time_ns,
                 db_path: str | Path | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.data_dir = Path(cfg.box.data_dir)
        path = Path(db_path) if db_path else cfg.db_path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_box_tables(path)
        self.conn = connect(path)
        # The outbox's own durability: a sealed batch is on disk when seal() returns.
        self.conn.execute("PRAGMA synchronous=FULL")
        import sqlite_utils

        migrations.apply(sqlite_utils.Database(self.conn))
        self.calendar = ShiftCalendar(cfg.machine, cfg.box.timezone)
        self.limit_bytes = int(cfg.sync.outbox_limit_mb * 1024 * 1024)

    @staticmethod
    def _ensure_box_tables(path: Path) -> None:
        from appliance.database import open_box_db

        db = open_box_db(path)
        db.conn.close()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        c = self.conn
        if c.in_transaction:
            c.commit()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.rollback()
            raise
        else:
            c.commit()

    # ------------------------------------------------------------ state
    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM sync_state WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_state(self, c: sqlite3.Connection, key: str, value: Any) -> None:
        c.execute("INSERT INTO sync_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  [key, json.dumps(value)])

    @property
    def loan(self) -> str:
        return loan_id(self.data_dir)

    # ------------------------------------------------------------ consent
    def consent(self) -> tuple[str, int]:
        """(level, consent text version); ``off`` until someone agreed."""
        row = self.conn.execute("SELECT level, version FROM sync_consent ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], int(row[1])) if row else ("off", 0)

    def set_consent(self, level: str, *, version: int, role: str) -> None:
        """Store a consent change (admin or coordinator), audited in the same transaction."""
        if level not in ("off", "kpi", "kpi+check"):
            raise ValueError(f"consent level {level!r}: use off, kpi or kpi+check")
        from appliance.errors import PermissionDenied
        from appliance.roles import may

        if not may(role, "sync.consent"):  # appliance.roles: coordinator or admin
            raise PermissionDenied(f"role {role!r} may not change the sync consent; log in as coordinator or admin")
        now = self.clock()
        with self.tx() as c:
            c.execute("INSERT INTO sync_consent(level, version, role, ts) VALUES (?, ?, ?, ?)",
                      [level, version, role, now])
            self.audit(c, role=role, action="sync.consent", target=level, detail={"version": version})

    def audit(self, c: sqlite3.Connection, *, role: str, action: str, target: str | None, detail: Any) -> None:
        c.execute("INSERT INTO audit(ts, role, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                  [self.clock(), role, action, target, json.dumps(detail, sort_keys=True)])

    # ------------------------------------------------------------ building
    def _phase(self, start_ns: int, periods: dict[str, tuple[int, int] | None]) -> str:
        for kind in ("pilot", "baseline"):
            span = periods.get(kind)
            if span and span[0] <= start_ns < span[1]:
                return kind
        return "none"

    @staticmethod
    def _ratio(v: float | None) -> float | None:
        return v if v is not None and 0 <= v <= 10 else None

    def _period(self, gran: str, r: KpiRow, periods: dict[str, tuple[int, int] | None]) -> KpiPeriod:
        return KpiPeriod(
            granularity=gran, start_ts=r.start_ts // NS, end_ts=r.end_ts // NS, phase=self._phase(r.start_ts, periods),
            planned_s=r.pot_s, run_s=r.apt_s, down_s=r.down_s, planned_down_s=r.pdot_s, setup_s=r.setup_s,
            no_data_s=r.nodata_s, total_count=r.pq, good_count=r.gq, scrap_count=r.sq, micro_stops=r.micro_n,
            failures=r.failures, availability=self._ratio(r.availability), performance=self._ratio(r.performance),
            quality=self._ratio(r.quality), oee=self._ratio(r.oee), mtbf_s=r.mtbf_s, mttr_s=r.mttr_s,
            energy_per_good_kwh=r.energy_per_good_kwh)

    def _alerts(self, start_ns: int, end_ns: int) -> list[AlertCount]:
        from appliance.alerts import AlertStore

        out = []
        for s in AlertStore(self.conn).model_stats(since_ns=start_ns, until_ns=end_ns):
            try:
                out.append(AlertCount(source=s["source"], kind=s["kind"], alerts=s["alerts"],
                                      labelled=s["labelled"], false_share=s["false_share"]))
            except ValueError:
                log.warning("alert kind %r is not a plain token; counted as 'other'", s["kind"])
                out.append(AlertCount(source="other", kind="other", alerts=s["alerts"], labelled=s["labelled"],
                                      false_share=s["false_share"]))
        return out

    def _check(self, level: str) -> CheckScores | None:
        if level != "kpi+check":
            return None
        try:
            import sqlite_utils

            from content.loader import load_library
            from content.progress import shareable_domain_scores

            scores = shareable_domain_scores(sqlite_utils.Database(self.conn), load_library().statements())
        except Exception as exc:  # content not installed or no check done: send no scores
            log.warning("workplace-check scores not available (%s); sending KPIs only", exc)
            return None
        return CheckScores(scores=scores) if scores else None

    def build(self, *, seq: int, start_ns: int, end_ns: int, granularity: str, level: str, version: int) -> Batch:
        """The batch for [start_ns, end_ns) (pure: reads the KPI store, writes nothing)."""
        periods = get_periods(self.conn)
        rows: list[KpiPeriod] = []
        if granularity == "hour":
            rows += [self._period("hour", r, periods)
                     for r in period_rows(self.conn, calendar=self.calendar, start_ns=start_ns, end_ns=end_ns,
                                          granularity="hour")]
            lo = start_ns - 2 * 86_400 * NS
            for gran in ("shift", "day"):
                rows += [self._period(gran, r, periods)
                         for r in period_rows(self.conn, calendar=self.calendar, start_ns=lo, end_ns=end_ns,
                                              granularity=gran) if start_ns < r.end_ts <= end_ns]
        else:
            rows += [self._period("day", r, periods)
                     for r in period_rows(self.conn, calendar=self.calendar, start_ns=start_ns, end_ns=end_ns,
                                          granularity="day") if r.end_ts <= end_ns]
        return self._batch(seq=seq, periods=rows, alerts=self._alerts(start_ns, end_ns), check=self._check(level),
                           level=level, version=version)

    def _batch(self, *, seq: int, periods: list[KpiPeriod], alerts: list[AlertCount], check: CheckScores | None,
               level: str, version: int) -> Batch:
        s = self.cfg.sync
        return Batch(loan=self.loan, seq=seq, programme=s.programme, sector=s.sector, size_class=s.size_class,
                     consent=level, consent_version=version, software_version=appliance.__version__,  # type: ignore[arg-type]
                     boot_id=_boot_id(), clock_synced=_clock_synced(), periods=periods, alerts=alerts, check=check)

    # ------------------------------------------------------------ sealing
    def _first_hour(self) -> int | None:
        row = self.conn.execute("SELECT min(ts) FROM kpi_hour").fetchone()
        return None if row[0] is None else int(row[0])

    def _next_spans(self, now_ns: int, watermark: int, day_mode: bool) -> list[tuple[str, int, int]]:
        closed = now_ns - SEAL_DELAY_NS
        closed -= closed % HOUR_NS
        if closed <= watermark:
            return []
        last = self.conn.execute("SELECT max(ts) FROM kpi_hour WHERE ts < ?", [closed]).fetchone()[0]
        if last is None or last < watermark:
            return []
        # Never seal beyond the last recorded hour + 1: a clock that jumped ahead
        # must not push the watermark past hours that are still to come.
        closed = min(closed, int(last) + HOUR_NS)
        spans: list[tuple[str, int, int]] = []
        if day_mode:
            day = self.calendar.local_date(watermark)
            while True:
                d0, d1 = self.calendar.day_bounds(day)
                if d1 > closed:
                    break
                spans.append(("day", max(d0, watermark), d1))
                day += dt.timedelta(days=1)
            return spans
        t = watermark
        while t < closed:
            e = min(t + MAX_HOURS * HOUR_NS, closed)
            spans.append(("hour", t, e))
            t = e
        return spans

    def undelivered_bytes(self) -> int:
        return int(self.conn.execute("SELECT coalesce(sum(size), 0) FROM sync_batches "
                                     "WHERE state != 'delivered'").fetchone()[0])

    def total_bytes(self) -> int:
        return int(self.conn.execute("SELECT coalesce(sum(length(body)), 0) FROM sync_batches").fetchone()[0])

    def seal(self) -> list[Sealed]:
        """Seal every closed period after the watermark, then the corrections
        of sealed periods (nothing when consent is off)."""
        level, version = self.consent()
        if level == "off":
            return []
        out = self._seal_new(level, version)
        return out + self._seal_corrections(level, version)

    def _seal_new(self, level: str, version: int) -> list[Sealed]:
        now = self.clock()
        out: list[Sealed] = []
        while True:
            wm = self.get_state("watermark_ns")
            if wm is None:
                wm = self._first_hour()
                if wm is None:
                    return out
            day_mode = self.undelivered_bytes() >= self.limit_bytes
            spans = self._next_spans(now, int(wm), day_mode)
            if not spans:
                return out
            gran, start, end = spans[0]
            out.append(self._seal_one(gran, start, end, level, version, day_mode))

    def _next_seq(self, c: sqlite3.Connection) -> int:
        return int(c.execute("SELECT coalesce(max(seq), 0) FROM sync_batches WHERE loan = ?",
                             [self.loan]).fetchone()[0]) + 1

    def _store(self, c: sqlite3.Connection, batch: Batch, gran: str, start: int, end: int) -> Sealed:
        """Store a sealed batch and the digest of each period it carries."""
        body = canonical_bytes(batch)
        digest = sha256_hex(body)
        c.execute("INSERT INTO sync_batches(loan, seq, granularity, span_start, span_end, sealed_ts, body, "
                  "sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [batch.loan, batch.seq, gran, start, end, self.clock(), body, digest, len(body)])
        c.executemany("INSERT INTO sync_sent_periods(loan, granularity, start_ts, sha256, seq) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT(loan, granularity, start_ts) DO UPDATE SET sha256 = excluded.sha256, "
                      "seq = excluded.seq",
                      [[batch.loan, p.granularity, p.start_ts, period_digest(p), batch.seq] for p in batch.periods])
        return Sealed(batch.loan, batch.seq, gran, start, end, digest, len(body), "pending")

    # ------------------------------------------------------------ corrections
    def changed_periods(self) -> list[KpiPeriod]:
        """Sealed periods (last ``CORRECTION_DAYS``) whose figures or phase differ from what was sealed."""
        wm = self.get_state("watermark_ns")
        if wm is None:
            return []
        sent = {(g, int(t)): sha for g, t, sha in self.conn.execute(
            "SELECT granularity, start_ts, sha256 FROM sync_sent_periods WHERE loan = ?", [self.loan])}
        if not sent:
            return []
        lo = max(int(wm) - CORRECTION_DAYS * 86_400 * NS, min(t for _, t in sent) * NS)
        periods = get_periods(self.conn)
        changed: list[KpiPeriod] = []
        for gran in ("hour", "shift", "day"):
            for r in period_rows(self.conn, calendar=self.calendar, start_ns=lo, end_ns=int(wm), granularity=gran):
                if r.end_ts > int(wm):
                    continue
                p = self._period(gran, r, periods)
                old = sent.get((gran, p.start_ts))
                if old is not None and old != period_digest(p):
                    changed.append(p)
        return changed

    def _user_writes(self) -> int:
        """The newest audited entry that can change a sealed period: a reason, a split, a product, a
        baseline or pilot mark (``kpi.*``). The box's own audited actions (a delivery, consent, a
        guard or model change) change no KPI figure, so they do not cost a 62-day recompute."""
        return int(self.conn.execute(
            "SELECT coalesce(max(id), 0) FROM audit WHERE action LIKE 'kpi.%'").fetchone()[0])

    def _seal_corrections(self, level: str, version: int) -> list[Sealed]:
        # Only a user entry (audited) changes a sealed period; without one, nothing to recompute.
        seen = self._user_writes()
        if self.get_state("corrections_audit_id") == seen:
            return []
        changed = self.changed_periods()
        out: list[Sealed] = []
        for i in range(0, len(changed), CORRECTION_PERIODS):
            part = changed[i:i + CORRECTION_PERIODS]
            with self.tx() as c:
                batch = self._batch(seq=self._next_seq(c), periods=part, alerts=[], check=None, level=level,
                                    version=version)
                start = min(p.start_ts for p in part) * NS
                end = max(p.end_ts for p in part) * NS
                out.append(self._store(c, batch, "correction", start, end))
        with self.tx() as c:
            self.set_state(c, "corrections_audit_id", seen)
        if out:
            log.info("sync: %d sealed period(s) changed after sealing (reasons or periods entered later); "
                     "re-sent in %d correction batch(es)", len(changed), len(out))
        return out

    def _seal_one(self, gran: str, start: int, end: int, level: str, version: int, day_mode: bool) -> Sealed:
        with self.tx() as c:
            batch = self.build(seq=self._next_seq(c), start_ns=start, end_ns=end, granularity=gran, level=level,
                               version=version)
            sealed = self._store(c, batch, gran, start, end)
            self.set_state(c, "watermark_ns", end)
            if day_mode and not self.get_state("bound_alerted"):
                self.set_state(c, "bound_alerted", True)
        if day_mode:
            self._bound_alert()
        return sealed

    def _bound_alert(self) -> None:
        from appliance.alerts import AlertStore

        mb = self.cfg.sync.outbox_limit_mb
        AlertStore(self.conn).raise_alert(
            source="sync", kind="sync.outbox_full", severity="warning", dedupe_key="sync.outbox_full",
            title={"nl": f"Sync-wachtrij vol ({mb:g} MB): de box bewaart nu dagtotalen in plaats van uren",
                   "en": f"Sync outbox full ({mb:g} MB): the box now seals day totals instead of hours"},
            detail={"nl": "Er gaat niets verloren. Controleer de netwerkverbinding met de hub van het programma.",
                    "en": "Nothing is lost. Check the network connection to the programme's hub."})

    # ------------------------------------------------------------ reading
    def batches(self, *, state: str | None = None, limit: int = 1000) -> list[Sealed]:
        sql = ("SELECT loan, seq, granularity, span_start, span_end, sha256, size, state, attempts, last_status, "
               "last_error, sealed_ts, done_ts FROM sync_batches")
        args: list[Any] = []
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY loan = ? DESC, seq LIMIT ?"
        return [Sealed(*r) for r in self.conn.execute(sql, [*args, self.loan, limit]).fetchall()]

    def next_pending(self) -> tuple[Sealed, bytes] | None:
        row = self.conn.execute(
            "SELECT loan, seq, granularity, span_start, span_end, sha256, size, state, attempts, last_status, "
            "last_error, sealed_ts, done_ts, body FROM sync_batches WHERE state = 'pending' "
            "ORDER BY loan = ? DESC, seq LIMIT 1", [self.loan]).fetchone()
        return (Sealed(*row[:13]), bytes(row[13])) if row else None

    def body(self, loan: str, seq: int) -> bytes | None:
        row = self.conn.execute("SELECT body FROM sync_batches WHERE loan = ? AND seq = ?", [loan, seq]).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def preview(self) -> tuple[Batch | None, bytes | None, bool]:
        """The next payload: (batch, bytes, sealed). The next pending batch if
        there is one (its frozen bytes: what will be sent), otherwise what the
        next seal would hold (not stored)."""
        nxt = self.next_pending()
        if nxt is not None:
            from .schema import parse_batch

            return parse_batch(nxt[1]), nxt[1], True
        level, version = self.consent()
        wm = self.get_state("watermark_ns") or self._first_hour()
        if wm is None:
            return None, None, False
        spans = self._next_spans(self.clock(), int(wm), False)
        if not spans:
            return None, None, False
        seq = self._next_seq(self.conn)
        gran, start, end = spans[0]
        batch = self.build(seq=seq, start_ns=start, end_ns=end, granularity=gran,
                           level=level if level != "off" else "kpi", version=max(version, 1))
        return batch, canonical_bytes(batch), False

    # ------------------------------------------------------------ outcomes
    def mark_delivered(self, loan: str, seq: int, upto: int, *, status: int) -> int:
        """This batch and every batch of the loan up to ``upto`` are at the hub."""
        now = self.clock()
        with self.tx() as c:
            c.execute("UPDATE sync_batches SET attempts = attempts + 1, last_status = ?, last_error = NULL "
                      "WHERE loan = ? AND seq = ?", [status, loan, seq])
            n = c.execute("UPDATE sync_batches SET state = 'delivered', done_ts = ? WHERE loan = ? AND state = 'pending' "
                          "AND (seq <= ? OR seq = ?)", [now, loan, upto, seq]).rowcount
            self.set_state(c, "last_delivery", {"ts": now, "loan": loan, "seq": seq, "status": status,
                                                "highest_contiguous_seq": upto})
            self.set_state(c, "backoff", None)
            self.audit(c, role="system", action="sync.send", target=f"{loan}:{seq}",
                       detail={"status": status, "highest_contiguous_seq": upto})
            # Old delivered bytes go; the row (seq, sha256) stays as the record.
            c.execute("UPDATE sync_batches SET body = NULL WHERE state = 'delivered' AND done_ts < ?",
                      [now - KEEP_DELIVERED_DAYS * 86_400 * NS])
        return n

    def mark_quarantined(self, loan: str, seq: int, *, status: int, error: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE sync_batches SET state = 'quarantined', attempts = attempts + 1, last_status = ?, "
                      "last_error = ?, done_ts = ? WHERE loan = ? AND seq = ?",
                      [status, error[:500], self.clock(), loan, seq])
            self.audit(c, role="system", action="sync.quarantine", target=f"{loan}:{seq}",
                       detail={"status": status, "error": error[:500]})
        from appliance.alerts import AlertStore

        AlertStore(self.conn).raise_alert(
            source="sync", kind="sync.quarantine", severity="warning", dedupe_key=f"sync.quarantine.{loan}.{seq}",
            title={"nl": f"Sync: de hub weigerde batch {seq} (HTTP {status}); hij wordt niet opnieuw gestuurd",
                   "en": f"Sync: the hub refused batch {seq} (HTTP {status}); it will not be retried"},
            detail={"nl": "De box bewaart deze batch apart en stuurt de volgende gewoon door. Meld het aan het "
                          "programma: de foutmelding van de hub staat hieronder.",
                    "en": "The box keeps this batch aside and goes on with the next ones. Tell the programme: the "
                          "hub's error message is below.", "error": error[:500]})

    def mark_failed(self, loan: str, seq: int, *, status: int | None, error: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE sync_batches SET attempts = attempts + 1, last_status = ?, last_error = ? "
                      "WHERE loan = ? AND seq = ?", [status, error[:500], loan, seq])


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:36] or "0"
    except OSError:
        return "0"


def _clock_synced() -> bool:
    """systemd-timesyncd's flag file (a Pi has no RTC: until NTP answers, the clock may be wrong)."""
    return os.path.exists("/run/systemd/timesync/synchronized")
