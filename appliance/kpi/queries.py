"""Read-only KPI queries: period rows, totals, stops, the downtime Pareto, periods, ROI inputs.

They take a ``sqlite3.Connection`` or a ``sqlite_utils.Database`` and return
dataclasses / dicts; the UI's ``/api/v1`` endpoints, the exports and sync use
the same functions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from appliance.storage import raw_conn

from .calendar import NS, ShiftCalendar
from .oee import KpiRow
from .reasons import ReasonTree
from .schema import COLS, HOUR_NS


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


# Per hour, its planned row and its outside-shift row (the key is (ts, sched): at most one of each), read
# apart and matched in Python: the same values the CASE sums give (a REAL column holds no -0.0), at a third
# of the SQL time. An hour without a planned (outside-shift) row has integer 0 sums, as SQLite's sum of 0s.
_HOUR_PLANNED = f"SELECT {', '.join(COLS)}, ts FROM kpi_hour WHERE sched = 1 AND ts >= ? AND ts < ?"
_HOUR_OUTSIDE = "SELECT ts, run_s, pq, energy_kwh FROM kpi_hour WHERE sched = 0 AND ts >= ? AND ts < ?"
_NO_PLANNED = (0,) * len(COLS)
_NO_OUTSIDE = (0, 0, 0)


def _make_row(period: str, start: int, end: int, v: tuple[Any, ...], fails: tuple[int, float],
              outside: tuple[Any, ...] | None = None) -> KpiRow:
    """``v``: the 13 planned sums (COLS order), then the 3 outside-shift sums unless ``outside`` has them."""
    run, idle, down, pdown, setup, nodata, micro_n, micro_s, pq, gq, sq, ideal, energy = v[:13]
    o = v[13:16] if outside is None else outside
    # Positional, in KpiRow's field order (pbt_s is filled by derive): a 90-day hourly query builds 2,160 rows.
    return KpiRow(period, start, end, run + idle + down + pdown + setup + nodata, pdown, nodata, 0.0, run, setup,
                  down, idle, int(round(micro_n)), micro_s, pq, gq, sq, ideal, energy, fails[0], fails[1],
                  o[0], o[1], o[2]).derive()


def period_rows(db: Any, *, calendar: ShiftCalendar, start_ns: int, end_ns: int,
                granularity: str = "hour") -> list[KpiRow]:
    """KPI rows per hour (UTC hours, labelled in local time), shift or local day in [start_ns, end_ns)."""
    import datetime as dt

    conn = raw_conn(db)
    none = (0, 0.0)
    if granularity == "hour":
        start_ns -= start_ns % HOUR_NS
        fails = _failures(conn, f"start_ts - start_ts % {HOUR_NS}", start_ns, end_ns)
        args = [start_ns, end_ns]
        planned = {r[13]: r for r in conn.execute(_HOUR_PLANNED, args)}
        outside = {r[0]: r[1:] for r in conn.execute(_HOUR_OUTSIDE, args)}
        label = _HourLabels(calendar)
        return [_make_row(label(ts), ts, ts + HOUR_NS, planned.get(ts, _NO_PLANNED), fails.get(ts, none),
                          outside.get(ts, _NO_OUTSIDE)) for ts in sorted(planned.keys() | outside.keys())]
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


class _HourLabels:
    """``_local_label`` for whole hours, the same text at a fifth of the cost: the local time is formatted by
    hand and the UTC-offset suffix ("+01:00") is taken once per offset from ``isoformat`` itself."""

    def __init__(self, calendar: ShiftCalendar) -> None:
        import datetime as dt

        self._fromts, self._tz = dt.datetime.fromtimestamp, calendar.tz
        self._suffix: dict[Any, str] = {}

    def __call__(self, ts: int) -> str:
        if ts % NS:
            return self._fromts(ts / NS, self._tz).isoformat(timespec="minutes")
        t = self._fromts(ts // NS, self._tz)
        off = t.utcoffset()
        suffix = self._suffix.get(off)
        if suffix is None:
            suffix = self._suffix[off] = t.isoformat(timespec="minutes")[16:]
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}{suffix}"


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


def get_roi_inputs(db: Any) -> RoiInputs:
    row = raw_conn(db).execute("SELECT value FROM settings WHERE key = 'kpi.roi'").fetchone()
    return RoiInputs(**json.loads(row[0])) if row else RoiInputs()
