"""The KPI engine's write: pending segments, counts and stops into the tables, in the caller's transaction.

A segment is time in one raw state (and at most one stop), in monotonic ns; the
writer places it on UTC with the engine's offset, continues the last
``kpi_state`` row when the segment follows on, and adds the time and counts to
the minute/hour/shift/day rows (``buckets.apply_delta``).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from .accumulator import Counts, PendingStop, Segment
from .buckets import apply_delta, effective_state, split_minutes
from .calendar import MINUTE_NS, NS, ShiftCalendar
from .config import MachineConfig
from .reasons import ReasonTree
from .schema import STATE_COL

LAST_UTC_KEY = "kpi.engine_last_utc"


class PeriodWriter:
    def __init__(self, machine: MachineConfig, calendar: ShiftCalendar, tree: ReasonTree, jump_ns: int) -> None:
        self.m = machine
        self.calendar = calendar
        self.tree = tree
        self.jump_ns = jump_ns
        # The last kpi_state row written: (id, state, stop_id, end_utc, end_mono).
        self.row: tuple[int, str, int | None, int, int] | None = None

    def insert_stop(self, c: sqlite3.Connection, st: PendingStop, offset: int, inserted: list[PendingStop]) -> None:
        start = st.start_mono + offset
        minute = start - start % MINUTE_NS
        sched, inst = self.calendar.minute_info(minute)
        cur = c.execute("INSERT INTO kpi_stops(start_ts, state, sched, day, shift_key, planned) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [start, st.state, int(sched), self.calendar.day_key(start), inst.key if inst else None,
                         int(st.state == "planned_down")])
        st.id = int(cur.lastrowid or 0)
        inserted.append(st)

    def write(self, c: sqlite3.Connection, *, offset: int, t: int, segs: list[Segment], counts: Counts,
              closed: list[PendingStop], current: PendingStop | None, inserted: list[PendingStop]) -> None:
        """Write everything pending up to monotonic ``t``; stops given an id are appended to ``inserted``."""
        off = offset
        deltas: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for seg in segs:
            st = seg.stop
            if st is not None and st.id is None:
                self.insert_stop(c, st, off, inserted)
            reason = None
            if st is not None:
                r = c.execute("SELECT reason FROM kpi_stops WHERE id = ?", [st.id]).fetchone()
                reason = self.tree.find(r[0] if r else None)
            utc0, utc1 = seg.m0 + off, seg.m1 + off
            row = self.row
            stop_id = st.id if st else None
            continues = (row is not None and row[4] == seg.m0 and abs(row[3] - utc0) <= self.jump_ns)
            if continues:
                utc0 = row[3]  # type: ignore[index]
                utc1 = max(utc1, utc0)
            dur = (seg.m1 - seg.m0) / NS
            eff = effective_state(seg.state, reason)
            for minute, secs in split_minutes(utc0, utc1, dur):
                deltas[minute][STATE_COL[eff]] += secs
            if continues and row is not None and row[1] == seg.state and row[2] == stop_id:
                c.execute("UPDATE kpi_state SET end_ts = ?, dur_s = dur_s + ? WHERE id = ?", [utc1, dur, row[0]])
                self.row = (row[0], seg.state, stop_id, utc1, seg.m1)
            else:
                cur = c.execute("INSERT INTO kpi_state(start_ts, end_ts, dur_s, state, stop_id) VALUES (?, ?, ?, ?, ?)",
                                [utc0, utc1, dur, seg.state, stop_id])
                self.row = (int(cur.lastrowid or 0), seg.state, stop_id, utc1, seg.m1)
        for ts, d in counts:
            u = ts + off
            bucket = deltas[u - u % MINUTE_NS]
            for k, v in d.items():
                bucket[k] += v
        if current is not None and current.id is None:
            self.insert_stop(c, current, off, inserted)
        for st in closed:
            if st.id is None:
                self.insert_stop(c, st, off, inserted)
            assert st.end_mono is not None
            dur = (st.end_mono - st.start_mono) / NS
            micro = dur < self.m.micro_stop_s
            c.execute("UPDATE kpi_stops SET end_ts = ?, dur_s = ?, micro = ? WHERE id = ?",
                      [st.end_mono + off, dur, int(micro), st.id])
            if micro:
                start = c.execute("SELECT start_ts FROM kpi_stops WHERE id = ?", [st.id]).fetchone()[0]
                bucket = deltas[start - start % MINUTE_NS]
                bucket["micro_n"] += 1
                bucket["micro_s"] += dur
        if current is not None:
            c.execute("UPDATE kpi_stops SET dur_s = ? WHERE id = ?",
                      [(t - current.start_mono) / NS, current.id])
        for minute, d in deltas.items():
            sched, inst = self.calendar.minute_info(minute)
            apply_delta(c, minute, d, sched=sched, shift=inst, day=self.calendar.day_key(minute))
        c.execute("INSERT INTO settings(key, value, updated_ts) VALUES (?, ?, ?) ON CONFLICT(key) "
                  "DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts",
                  [LAST_UTC_KEY, str(t + off), t + off])
