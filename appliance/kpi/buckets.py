"""The additive bucket writer: a delta spread over the minute, hour, shift and day rows.

Also the rule that says which column a stop's time counts in. The transaction
helpers (``write_tx``, ``audit_row``) are :mod:`appliance.storage`'s.
"""

from __future__ import annotations

import sqlite3

from .calendar import MINUTE_NS, ShiftCalendar, ShiftInstance
from .reasons import ReasonInfo
from .schema import COLS, HOUR_NS

__all__ = ["apply_delta", "effective_state", "minute_meta", "split_minutes"]


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
