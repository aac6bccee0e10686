"""KPI tables, the additive bucket writer, query functions and user writes.

Tables (all timestamps UTC ns; durations s from the monotonic clock):
- ``kpi_minute`` / ``kpi_hour`` / ``kpi_shift`` / ``kpi_day``: pre-aggregated
  periods. Every write is an additive delta applied to all four in one
  transaction, so the engine (core process) and user entries (UI process)
  never overwrite each other. ``sched`` = 1 for planned minutes (inside a
  shift, outside breaks and non-working days); shift rows hold planned minutes
  only.
- ``kpi_state``: state intervals (raw state from the signals), each part of at
  most one stop.
- ``kpi_stops``: stops (contiguous not-running time) with their reason.
- ``kpi_periods``: baseline and pilot periods marked by the coordinator.

Query functions take a ``sqlite3.Connection`` or a ``sqlite_utils.Database``
and return dataclasses / dicts; the UI's ``/api/v1`` endpoints and the
exports use the same functions.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlite_utils.migrations import Migrations

from appliance.roles import check_role

from .calendar import MINUTE_NS, NS, ShiftCalendar, ShiftInstance
from .reasons import ReasonInfo, ReasonTree

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


# ----------------------------------------------------------------- helpers
def raw_conn(db: Any) -> sqlite3.Connection:
    return db.conn if hasattr(db, "conn") else db


@contextlib.contextmanager
def write_tx(db: Any) -> Iterator[sqlite3.Connection]:
    """A short write transaction that takes the write lock up front."""
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


def audit_row(conn: sqlite3.Connection, *, role: str, action: str, target: str | None, detail: Any = None) -> None:
    """Audit row inside the caller's transaction (appliance.storage.audit uses its own)."""
    conn.execute("INSERT INTO audit(ts, role, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                 [time.time_ns(), role, action, target,
                  None if detail is None else json.dumps(detail, sort_keys=True, default=str)])


def effective_state(raw: str, reason: ReasonInfo | None) -> str:
    """The state a stop's time counts as, once a reason is known."""
    if raw in ("running", "no_data") or reason is None:
        return raw
    if reason.planned:
        return "planned_down"
    if reason.setup:
        return "setup"
    return raw if raw in ("idle", "down") else "down"


def split_minutes(start_ns: int, end_ns: int, dur_s: float) -> list[tuple[int, float]]:
    """Spread ``dur_s`` (monotonic) over the UTC minutes of [start_ns, end_ns)."""
    if dur_s <= 0:
        return []
    span = end_ns - start_ns
    first = start_ns - start_ns % MINUTE_NS
    if span <= 0:
        return [(first, dur_s)]
    out = []
    m = first
    while m < end_ns:
        lo, hi = max(m, start_ns), min(m + MINUTE_NS, end_ns)
        if hi > lo:
            out.append((m, dur_s * (hi - lo) / span))
        m += MINUTE_NS
    return out


def minute_meta(conn: sqlite3.Connection, minute: int, calendar: ShiftCalendar
                ) -> tuple[bool, ShiftInstance | None, str]:
    row = conn.execute("SELECT sched, shift_key FROM kpi_minute WHERE ts = ?", [minute]).fetchone()
    planned, inst = calendar.minute_info(minute)
    if row is not None:
        planned = bool(row[0])
        if row[1] is None:
            inst = None
    return planned, inst, calendar.day_key(minute)


def apply_delta(conn: sqlite3.Connection, minute: int, delta: dict[str, float], *,
                sched: bool, shift: ShiftInstance | None, day: str) -> None:
    """Add ``delta`` (column -> amount) to the minute, hour, shift and day rows."""
    cols = [c for c in COLS if delta.get(c)]
    if not cols:
        return
    vals = [float(delta[c]) for c in cols]
    names = ", ".join(cols)
    qs = ", ".join("?" for _ in cols)
    upd = ", ".join(f"{c} = {c} + excluded.{c}" for c in cols)
    s = int(sched)
    conn.execute(f"INSERT INTO kpi_minute(ts, sched, shift_key, day, {names}) VALUES (?, ?, ?, ?, {qs}) "
                 f"ON CONFLICT(ts) DO UPDATE SET {upd}", [minute, s, shift.key if shift else None, day, *vals])
    hour = minute - minute % HOUR_NS
    conn.execute(f"INSERT INTO kpi_hour(ts, sched, {names}) VALUES (?, ?, {qs}) "
                 f"ON CONFLICT(ts, sched) DO UPDATE SET {upd}", [hour, s, *vals])
    conn.execute(f"INSERT INTO kpi_day(day, sched, {names}) VALUES (?, ?, {qs}) "
                 f"ON CONFLICT(day, sched) DO UPDATE SET {upd}", [day, s, *vals])
    if sched and shift is not None:
        conn.execute(f"INSERT INTO kpi_shift(shift_key, name, day, start_ts, end_ts, {names}) "
                     f"VALUES (?, ?, ?, ?, ?, {qs}) ON CONFLICT(shift_key) DO UPDATE SET {upd}",
                     [shift.key, shift.name, shift.key.split("/")[0], shift.start_ns, shift.end_ns, *vals])


# ----------------------------------------------------------------- results
@dataclass
class KpiRow:
    """One period. Ratios are fractions (0..1); None when undefined (e.g. no planned time)."""

    period: str
    start_ts: int
    end_ts: int
    # ISO 22400-2 time elements (s), planned minutes only
    pot_s: float = 0.0  # planned operation time
    pdot_s: float = 0.0  # planned downtime (planned reasons / planned_down code)
    nodata_s: float = 0.0  # no-data time (excluded from PBT, shown here)
    pbt_s: float = 0.0  # planned busy time = POT - PDOT - no-data
    apt_s: float = 0.0  # actual production time (state running)
    setup_s: float = 0.0
    down_s: float = 0.0  # unplanned down
    idle_s: float = 0.0
    micro_n: int = 0
    micro_s: float = 0.0
    pq: float = 0.0  # produced quantity
    gq: float = 0.0  # good quantity
    sq: float = 0.0  # scrap quantity
    ideal_s: float = 0.0  # sum of PRI over produced parts
    energy_kwh: float = 0.0
    failures: int = 0  # unplanned stops >= micro_stop_s starting in the period
    failure_down_s: float = 0.0
    outside_shift_run_s: float = 0.0
    outside_shift_pq: float = 0.0
    outside_shift_energy_kwh: float = 0.0
    availability: float | None = None
    performance: float | None = None
    quality: float | None = None
    oee: float | None = None
    scrap_rate: float | None = None
    mtbf_s: float | None = None
    mttr_s: float | None = None
    energy_per_good_kwh: float | None = None
    parts_per_hour: float | None = None
    good_per_hour: float | None = None
    no_data_share: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def derive(self) -> KpiRow:
        """Fill the ratios from the time elements and counts (ISO 22400-2; see the README)."""
        pbt = self.pot_s - self.pdot_s - self.nodata_s
        self.pbt_s = pbt = pbt if pbt > 0 else 0.0
        apt, pq, gq = self.apt_s, self.pq, self.gq
        a = apt / pbt if pbt > 1e-9 else None
        p = self.ideal_s / apt if apt > 1e-9 else None
        q = gq / pq if pq > 1e-9 else None
        self.availability, self.performance, self.quality = a, p, q
        if a is not None and p is not None and q is not None:
            self.oee = a * p * q
        elif pbt > 0 and apt == 0:
            self.oee = 0.0  # planned, but nothing ran
        self.scrap_rate = self.sq / pq if pq > 1e-9 else None
        n = self.failures
        self.mtbf_s = apt / n if n and apt > 0 else None
        self.mttr_s = self.failure_down_s / n if n else None
        self.energy_per_good_kwh = self.energy_kwh / gq if gq > 1e-9 else None
        self.parts_per_hour = pq * 3600 / pbt if pbt > 1e-9 else None
        self.good_per_hour = gq * 3600 / pbt if pbt > 1e-9 else None
        self.no_data_share = self.nodata_s / self.pot_s if self.pot_s > 1e-9 else None
        return self

    def as_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in KPI_FIELDS}
        d.update(self.extra)
        return d


KPI_FIELDS: list[str] = [f.name for f in fields(KpiRow) if f.name != "extra"]
RATIO_KPIS = ("availability", "performance", "quality", "oee", "scrap_rate", "no_data_share")


def _rows(conn: sqlite3.Connection, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _failures(conn: sqlite3.Connection, key: str, start_ns: int, end_ns: int) -> dict[Any, tuple[int, float]]:
    sql = (f"SELECT {key} AS k, count(*), sum(dur_s) FROM kpi_stops WHERE start_ts >= ? AND start_ts < ? "
           "AND end_ts IS NOT NULL AND micro = 0 AND planned = 0 AND sched = 1 GROUP BY k")
    return {r[0]: (r[1], r[2] or 0.0) for r in conn.execute(sql, [start_ns, end_ns]).fetchall()}


# One SQL row per period: planned sums of every column, then the outside-shift sums.
_SCHED_SUMS = ", ".join(f"sum(CASE WHEN sched = 1 THEN {c} ELSE 0 END)" for c in COLS)
_UNSCHED_SUMS = ", ".join(f"sum(CASE WHEN sched = 0 THEN {c} ELSE 0 END)" for c in ("run_s", "pq", "energy_kwh"))


def _make_row(period: str, start: int, end: int, v: tuple[Any, ...], fails: tuple[int, float]) -> KpiRow:
    run, idle, down, pdown, setup, nodata, micro_n, micro_s, pq, gq, sq, ideal, energy = v[:13]
    return KpiRow(period, start, end, pot_s=run + idle + down + pdown + setup + nodata, pdot_s=pdown,
                  nodata_s=nodata, apt_s=run, setup_s=setup, down_s=down, idle_s=idle, micro_n=int(round(micro_n)),
                  micro_s=micro_s, pq=pq, gq=gq, sq=sq, ideal_s=ideal, energy_kwh=energy,
                  failures=fails[0], failure_down_s=fails[1], outside_shift_run_s=v[13], outside_shift_pq=v[14],
                  outside_shift_energy_kwh=v[15]).derive()


def period_rows(db: Any, *, calendar: ShiftCalendar, start_ns: int, end_ns: int,
                granularity: str = "hour") -> list[KpiRow]:
    """KPI rows per hour (UTC hours, labelled in local time), shift or local day in [start_ns, end_ns)."""
    import datetime as dt

    conn = raw_conn(db)
    none = (0, 0.0)
    if granularity == "hour":
        start_ns -= start_ns % HOUR_NS
        fails = _failures(conn, f"start_ts - start_ts % {HOUR_NS}", start_ns, end_ns)
        sql = f"SELECT ts, {_SCHED_SUMS}, {_UNSCHED_SUMS} FROM kpi_hour WHERE ts >= ? AND ts < ? GROUP BY ts ORDER BY ts"
        return [_make_row(_local_label(calendar, r[0]), r[0], r[0] + HOUR_NS, r[1:], fails.get(r[0], none))
                for r in conn.execute(sql, [start_ns, end_ns]).fetchall()]
    if granularity == "day":
        d0, d1 = calendar.local_date(start_ns), calendar.local_date(end_ns - 1)
        fails = _failures(conn, "day", calendar.day_bounds(d0)[0], calendar.day_bounds(d1)[1])
        sql = (f"SELECT day, {_SCHED_SUMS}, {_UNSCHED_SUMS} FROM kpi_day WHERE day >= ? AND day <= ? "
               "GROUP BY day ORDER BY day")
        out = []
        for r in conn.execute(sql, [d0.isoformat(), d1.isoformat()]).fetchall():
            b0, b1 = calendar.day_bounds(dt.date.fromisoformat(r[0]))
            out.append(_make_row(r[0], b0, b1, r[1:], fails.get(r[0], none)))
        return out
    if granularity == "shift":
        fails = _failures(conn, "shift_key", start_ns - 86_400 * NS, end_ns + 86_400 * NS)
        sql = (f"SELECT shift_key, start_ts, end_ts, {', '.join(COLS)}, 0, 0, 0 FROM kpi_shift "
               "WHERE start_ts >= ? AND start_ts < ? ORDER BY start_ts")
        return [_make_row(r[0], r[1], r[2], r[3:], fails.get(r[0], none))
                for r in conn.execute(sql, [start_ns, end_ns]).fetchall()]
    raise ValueError(f"granularity {granularity!r}: use hour, shift or day")


def _local_label(calendar: ShiftCalendar, ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts / NS, calendar.tz).isoformat(timespec="minutes")


def summarize(rows: list[KpiRow], *, period: str = "total") -> KpiRow:
    """Sum of rows (ratios of sums, not means of ratios)."""
    if not rows:
        return KpiRow(period, 0, 0).derive()
    tot = KpiRow(period, min(r.start_ts for r in rows), max(r.end_ts for r in rows))
    for r in rows:
        for name in ("pot_s", "pdot_s", "nodata_s", "apt_s", "setup_s", "down_s", "idle_s", "micro_n", "micro_s",
                     "pq", "gq", "sq", "ideal_s", "energy_kwh", "failures", "failure_down_s",
                     "outside_shift_run_s", "outside_shift_pq", "outside_shift_energy_kwh"):
            setattr(tot, name, getattr(tot, name) + getattr(r, name))
    return tot.derive()


def kpi_total(db: Any, *, calendar: ShiftCalendar, start_ns: int, end_ns: int) -> KpiRow:
    """One row for [start_ns, end_ns), summed from hour rows (start floored to the hour)."""
    conn = raw_conn(db)
    start_ns -= start_ns % HOUR_NS
    r = conn.execute(f"SELECT {_SCHED_SUMS}, {_UNSCHED_SUMS} FROM kpi_hour WHERE ts >= ? AND ts < ?",
                     [start_ns, end_ns]).fetchone()
    f = conn.execute("SELECT count(*), coalesce(sum(dur_s), 0) FROM kpi_stops WHERE start_ts >= ? AND start_ts < ? "
                     "AND end_ts IS NOT NULL AND micro = 0 AND planned = 0 AND sched = 1", [start_ns, end_ns]).fetchone()
    return _make_row("total", start_ns, end_ns, tuple(x or 0.0 for x in r), (f[0], f[1]))


def oee_now(db: Any, *, calendar: ShiftCalendar, now_ns: int | None = None) -> dict[str, Any]:
    """OEE today (local day) and for the current shift, with A/P/Q."""
    now_ns = now_ns or time.time_ns()
    day0, day1 = calendar.day_bounds(calendar.local_date(now_ns))
    days = period_rows(db, calendar=calendar, start_ns=day0, end_ns=day1, granularity="day")
    inst = calendar.shift_at(now_ns)
    shift = None
    if inst is not None:
        rows = [r for r in period_rows(db, calendar=calendar, start_ns=inst.start_ns, end_ns=inst.start_ns + 1,
                                       granularity="shift")]
        shift = rows[0] if rows else KpiRow(inst.key, inst.start_ns, inst.end_ns).derive()
    return {"today": days[0] if days else KpiRow(calendar.day_key(now_ns), day0, day1).derive(), "shift": shift}


# ----------------------------------------------------------------- stops
@dataclass
class Stop:
    id: int
    start_ts: int
    end_ts: int | None
    dur_s: float
    state: str
    micro: bool
    sched: bool
    day: str
    shift_key: str | None
    reason: str | None
    planned: bool
    reason_role: str | None
    reason_ts: int | None
    comment: str | None
    split_from: int | None
    reason_label_nl: str | None = None
    reason_label_en: str | None = None


def _stop(r: dict[str, Any], tree: ReasonTree | None = None) -> Stop:
    s = Stop(**{k: r[k] for k in ("id", "start_ts", "end_ts", "dur_s", "state", "micro", "sched", "day",
                                  "shift_key", "reason", "planned", "reason_role", "reason_ts", "comment",
                                  "split_from")})
    s.micro, s.sched, s.planned = bool(s.micro), bool(s.sched), bool(s.planned)
    info = tree.find(s.reason) if tree else None
    if info:
        s.reason_label_nl, s.reason_label_en = info.label("nl"), info.label("en")
    return s


def get_stop(db: Any, stop_id: int, *, tree: ReasonTree | None = None) -> Stop:
    rows = _rows(raw_conn(db), "SELECT * FROM kpi_stops WHERE id = ?", [stop_id])
    if not rows:
        raise ValueError(f"stop {stop_id} does not exist; list stops to get a valid id")
    return _stop(rows[0], tree)


def list_stops(db: Any, *, start_ns: int, end_ns: int, tree: ReasonTree | None = None,
               include_micro: bool = False) -> list[Stop]:
    sql = "SELECT * FROM kpi_stops WHERE start_ts >= ? AND start_ts < ?"
    if not include_micro:
        sql += " AND micro = 0"
    return [_stop(r, tree) for r in _rows(raw_conn(db), sql + " ORDER BY start_ts", [start_ns, end_ns])]


def current_stop(db: Any, *, tree: ReasonTree | None = None) -> Stop | None:
    rows = _rows(raw_conn(db), "SELECT * FROM kpi_stops WHERE end_ts IS NULL ORDER BY start_ts DESC LIMIT 1", [])
    return _stop(rows[0], tree) if rows else None


def stops_needing_reason(db: Any, *, micro_stop_s: float, tree: ReasonTree | None = None,
                         limit: int = 100) -> list[Stop]:
    """Unplanned stops in planned time, at least ``micro_stop_s`` long, without a reason (open ones too)."""
    sql = ("SELECT * FROM kpi_stops WHERE reason IS NULL AND micro = 0 AND planned = 0 AND sched = 1 "
           "AND dur_s >= ? ORDER BY start_ts DESC LIMIT ?")
    return [_stop(r, tree) for r in _rows(raw_conn(db), sql, [micro_stop_s, limit])]


def downtime_pareto(db: Any, *, tree: ReasonTree, start_ns: int, end_ns: int, lang: str = "nl",
                    include_planned: bool = False) -> list[dict[str, Any]]:
    """Downtime by reason, largest first, with cumulative share. Micro-stops are one bar."""
    conn = raw_conn(db)
    sql = ("SELECT reason, count(*), sum(dur_s) FROM kpi_stops WHERE start_ts >= ? AND start_ts < ? "
           "AND micro = 0 AND end_ts IS NOT NULL" + ("" if include_planned else " AND planned = 0") +
           " GROUP BY reason")
    bars = []
    for reason, n, secs in conn.execute(sql, [start_ns, end_ns]).fetchall():
        info = tree.find(reason)
        label = info.label(lang) if info else (("Reden nodig" if lang == "nl" else "Reason needed") if reason is None
                                               else reason)
        bars.append({"reason": reason, "label": label, "stops": n, "seconds": secs or 0.0,
                     "planned": bool(info.planned) if info else False})
    micro = conn.execute("SELECT count(*), sum(dur_s) FROM kpi_stops WHERE start_ts >= ? AND start_ts < ? "
                         "AND micro = 1", [start_ns, end_ns]).fetchone()
    if micro[0]:
        bars.append({"reason": "micro_stop", "label": "Microstops" if lang == "nl" else "Micro-stops",
                     "stops": micro[0], "seconds": micro[1] or 0.0, "planned": False})
    bars.sort(key=lambda b: (-b["seconds"], str(b["reason"])))
    total = sum(b["seconds"] for b in bars) or 1.0
    cum = 0.0
    for b in bars:
        cum += b["seconds"]
        b["share"] = b["seconds"] / total
        b["cumulative_share"] = cum / total
    return bars


def _reclassify(conn: sqlite3.Connection, stop_id: int, old: ReasonInfo | None, new: ReasonInfo | None,
                calendar: ShiftCalendar, only_from_ts: int | None = None) -> None:
    for start, end, dur, raw in conn.execute(
            "SELECT start_ts, end_ts, dur_s, state FROM kpi_state WHERE stop_id = ?", [stop_id]).fetchall():
        a, b = effective_state(raw, old), effective_state(raw, new)
        if a == b:
            continue
        for minute, secs in split_minutes(start, end, dur):
            sched, inst, day = minute_meta(conn, minute, calendar)
            apply_delta(conn, minute, {STATE_COL[a]: -secs, STATE_COL[b]: secs}, sched=sched, shift=inst, day=day)


def assign_reason(db: Any, *, stop_id: int, reason: str, role: str, calendar: ShiftCalendar,
                  tree: ReasonTree, comment: str | None = None) -> Stop:
    """Give a stop its downtime reason (open stops too). Moves its time between
    the unplanned, planned and setup columns of every period it touches; audited."""
    check_role(role)
    info = tree.get(reason)
    if comment is not None and len(comment) > 500:
        raise ValueError("comment is longer than 500 characters; shorten it")
    with write_tx(db) as conn:
        rows = _rows(conn, "SELECT * FROM kpi_stops WHERE id = ?", [stop_id])
        if not rows:
            raise ValueError(f"stop {stop_id} does not exist; list stops to get a valid id")
        old = tree.find(rows[0]["reason"])
        _reclassify(conn, stop_id, old, info, calendar)
        conn.execute("UPDATE kpi_stops SET reason = ?, planned = ?, reason_role = ?, reason_ts = ?, "
                     "comment = coalesce(?, comment) WHERE id = ?",
                     [info.code, int(info.planned), role, time.time_ns(), comment, stop_id])
        audit_row(conn, role=role, action="kpi.assign_reason", target=f"stop:{stop_id}",
                  detail={"reason": info.code, "previous": rows[0]["reason"], "comment": comment})
    return get_stop(db, stop_id, tree=tree)


def clear_reason(db: Any, *, stop_id: int, role: str, calendar: ShiftCalendar, tree: ReasonTree) -> Stop:
    """Take a stop's reason away again (undo of a wrong tap); its time moves back; audited."""
    check_role(role)
    with write_tx(db) as conn:
        rows = _rows(conn, "SELECT * FROM kpi_stops WHERE id = ?", [stop_id])
        if not rows:
            raise ValueError(f"stop {stop_id} does not exist; list stops to get a valid id")
        _reclassify(conn, stop_id, tree.find(rows[0]["reason"]), None, calendar)
        conn.execute("UPDATE kpi_stops SET reason = NULL, planned = 0, reason_role = ?, reason_ts = ? WHERE id = ?",
                     [role, time.time_ns(), stop_id])
        audit_row(conn, role=role, action="kpi.clear_reason", target=f"stop:{stop_id}",
                  detail={"previous": rows[0]["reason"]})
    return get_stop(db, stop_id, tree=tree)


def split_stop(db: Any, *, stop_id: int, at_ns: int, role: str) -> tuple[Stop, Stop]:
    """Split a finished stop at UTC ``at_ns`` into two; both keep the reason (if any); audited."""
    check_role(role)
    with write_tx(db) as conn:
        rows = _rows(conn, "SELECT * FROM kpi_stops WHERE id = ?", [stop_id])
        if not rows:
            raise ValueError(f"stop {stop_id} does not exist; list stops to get a valid id")
        s = rows[0]
        if s["end_ts"] is None:
            raise ValueError("this stop is still going on; split it after the machine runs again")
        if s["micro"]:
            raise ValueError("micro-stops cannot be split")
        if not s["start_ts"] < at_ns < s["end_ts"]:
            raise ValueError("the split time must lie inside the stop "
                             f"({s['start_ts']} .. {s['end_ts']} UTC ns)")
        cur = conn.execute(
            "INSERT INTO kpi_stops(start_ts, end_ts, dur_s, state, micro, sched, day, shift_key, reason, planned, "
            "reason_role, reason_ts, comment, split_from) VALUES (?, ?, 0, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [at_ns, s["end_ts"], s["state"], s["sched"], s["day"], s["shift_key"], s["reason"], s["planned"],
             s["reason_role"], s["reason_ts"], s["comment"], stop_id])
        new_id = int(cur.lastrowid or 0)
        first = 0.0
        second = 0.0
        for iid, start, end, dur, state in conn.execute(
                "SELECT id, start_ts, end_ts, dur_s, state FROM kpi_state WHERE stop_id = ? ORDER BY start_ts",
                [stop_id]).fetchall():
            if end <= at_ns:
                first += dur
            elif start >= at_ns:
                conn.execute("UPDATE kpi_state SET stop_id = ? WHERE id = ?", [new_id, iid])
                second += dur
            else:
                d1 = dur * (at_ns - start) / (end - start)
                conn.execute("UPDATE kpi_state SET end_ts = ?, dur_s = ? WHERE id = ?", [at_ns, d1, iid])
                conn.execute("INSERT INTO kpi_state(start_ts, end_ts, dur_s, state, stop_id) VALUES (?, ?, ?, ?, ?)",
                             [at_ns, end, dur - d1, state, new_id])
                first += d1
                second += dur - d1
        if abs(first + second - s["dur_s"]) > 0.5:
            # State rows missing (or not covering the stop): share its duration by wall time, so
            # neither part drops under the micro-stop limit and out of "needs a reason".
            first = s["dur_s"] * (at_ns - s["start_ts"]) / (s["end_ts"] - s["start_ts"])
            second = s["dur_s"] - first
        conn.execute("UPDATE kpi_stops SET end_ts = ?, dur_s = ? WHERE id = ?", [at_ns, first, stop_id])
        conn.execute("UPDATE kpi_stops SET dur_s = ? WHERE id = ?", [second, new_id])
        audit_row(conn, role=role, action="kpi.split_stop", target=f"stop:{stop_id}",
                  detail={"at_ns": at_ns, "new_stop": new_id})
    return get_stop(db, stop_id), get_stop(db, int(new_id))


# ----------------------------------------------------------------- coordinator entries
def mark_period(db: Any, *, kind: str, start_ns: int, end_ns: int, role: str, note: str | None = None) -> int:
    """Mark the baseline or pilot period (replaces the previous one of that kind); audited."""
    check_role(role, ("coordinator", "admin"))
    if kind not in ("baseline", "pilot"):
        raise ValueError(f"period kind {kind!r}: use baseline or pilot")
    if end_ns <= start_ns:
        raise ValueError("the period must end after it starts")
    with write_tx(db) as conn:
        conn.execute("UPDATE kpi_periods SET active = 0 WHERE kind = ?", [kind])
        cur = conn.execute("INSERT INTO kpi_periods(kind, start_ts, end_ts, role, ts, note) VALUES (?, ?, ?, ?, ?, ?)",
                           [kind, start_ns, end_ns, role, time.time_ns(), note])
        audit_row(conn, role=role, action="kpi.mark_period", target=kind,
                  detail={"start_ns": start_ns, "end_ns": end_ns, "note": note})
    return int(cur.lastrowid or 0)


def get_periods(db: Any) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {"baseline": None, "pilot": None}
    for kind, s, e in raw_conn(db).execute(
            "SELECT kind, start_ts, end_ts FROM kpi_periods WHERE active = 1 ORDER BY id").fetchall():
        out[kind] = (s, e)
    return out


@dataclass
class RoiInputs:
    value_per_hour_eur: float = 0.0  # what one machine hour is worth to the company
    hours_per_year: float = 0.0  # planned production hours per year
    investment_eur: float = 0.0


def set_roi_inputs(db: Any, *, role: str, value_per_hour_eur: float, hours_per_year: float,
                   investment_eur: float) -> RoiInputs:
    check_role(role, ("coordinator", "admin"))
    for name, v, hi in (("value_per_hour_eur", value_per_hour_eur, 1e6), ("hours_per_year", hours_per_year, 8784),
                        ("investment_eur", investment_eur, 1e9)):
        if not 0 <= v <= hi:
            raise ValueError(f"{name} must be between 0 and {hi:g}")
    inputs = RoiInputs(value_per_hour_eur, hours_per_year, investment_eur)
    with write_tx(db) as conn:
        conn.execute("INSERT INTO settings(key, value, updated_ts) VALUES ('kpi.roi', ?, ?) ON CONFLICT(key) "
                     "DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts",
                     [json.dumps(asdict(inputs)), time.time_ns()])
        audit_row(conn, role=role, action="kpi.set_roi_inputs", target="roi", detail=asdict(inputs))
    return inputs


def get_roi_inputs(db: Any) -> RoiInputs:
    row = raw_conn(db).execute("SELECT value FROM settings WHERE key = 'kpi.roi'").fetchone()
    return RoiInputs(**json.loads(row[0])) if row else RoiInputs()


def set_product(db: Any, *, product_id: str | None, role: str, known: list[str]) -> None:
    """The operator chooses the current product (used when no product signal is configured)."""
    check_role(role)
    if product_id is not None and product_id not in known:
        raise ValueError(f"unknown product {product_id!r}; choose one of {', '.join(known) or '(none configured)'}")
    with write_tx(db) as conn:
        conn.execute("INSERT INTO settings(key, value, updated_ts) VALUES ('kpi.product', ?, ?) ON CONFLICT(key) "
                     "DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts",
                     [product_id or "", time.time_ns()])
        audit_row(conn, role=role, action="kpi.set_product", target=product_id)
