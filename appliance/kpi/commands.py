"""User writes on the KPI tables: stop reasons, splitting a stop, periods, ROI inputs, product.

Each one checks the role, runs in one write transaction and writes its audit row there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict
from typing import Any

from appliance.roles import check_role, roles_for
from appliance.storage import audit_row, write_tx

from .buckets import apply_delta, effective_state, minute_meta, split_minutes
from .calendar import ShiftCalendar
from .queries import RoiInputs, Stop, _rows, get_stop
from .reasons import ReasonInfo, ReasonTree
from .schema import STATE_COL


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
    check_role(role, roles_for("kpi.edit"))
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


def set_roi_inputs(db: Any, *, role: str, value_per_hour_eur: float, hours_per_year: float,
                   investment_eur: float) -> RoiInputs:
    check_role(role, roles_for("kpi.edit"))
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
