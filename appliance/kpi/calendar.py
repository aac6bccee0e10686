"""Shift calendar: which minutes are planned (ISO 22400 planned operation time).

Shifts are given in local time (``box.timezone``, Europe/Amsterdam by default)
and converted to UTC per date with ``zoneinfo``, so a night shift across the
last Sunday of March lasts one hour less and across the last Sunday of October
one hour more. A shift belongs to the date it starts on; a shift whose end is
not after its start crosses midnight. Breaks are unplanned-for-production
minutes inside a shift. With no shifts configured every minute is planned and
each local day is one pseudo-shift named ``24h``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .config import MachineConfig

NS = 1_000_000_000
MINUTE_NS = 60 * NS


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    key: str  # "YYYY-MM-DD/name" (local start date)
    name: str
    start_ns: int
    end_ns: int
    breaks: tuple[tuple[int, int], ...]

    def planned_at(self, t_ns: int) -> bool:
        if not self.start_ns <= t_ns < self.end_ns:
            return False
        return not any(b0 <= t_ns < b1 for b0, b1 in self.breaks)


def _hm(text: str) -> dt.time:
    h, m = text.split(":")
    return dt.time(int(h), int(m))


class ShiftCalendar:
    def __init__(self, machine: MachineConfig, timezone: str = "Europe/Amsterdam") -> None:
        self.tz = ZoneInfo(timezone)
        self.machine = machine
        self._non_working = {dt.date.fromisoformat(d) for d in machine.non_working_days}
        self._cache: dict[dt.date, list[ShiftInstance]] = {}

    def _utc_ns(self, day: dt.date, t: dt.time) -> int:
        local = dt.datetime.combine(day, t, tzinfo=self.tz)
        return int(local.timestamp()) * NS

    def local_date(self, t_ns: int) -> dt.date:
        # Whole seconds, floored: t_ns / NS rounds the last nanosecond of a day up to the next day.
        return dt.datetime.fromtimestamp(t_ns // NS, self.tz).date()

    def day_key(self, t_ns: int) -> str:
        return self.local_date(t_ns).isoformat()

    def day_bounds(self, day: dt.date) -> tuple[int, int]:
        return self._utc_ns(day, dt.time(0, 0)), self._utc_ns(day + dt.timedelta(days=1), dt.time(0, 0))

    def shifts_on(self, day: dt.date) -> list[ShiftInstance]:
        """Shift instances that start on local date ``day``."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        out: list[ShiftInstance] = []
        if not self.machine.shifts:
            start, end = self.day_bounds(day)
            out.append(ShiftInstance(f"{day.isoformat()}/24h", "24h", start, end, ()))
        elif day not in self._non_working:
            for s in self.machine.shifts:
                if day.weekday() not in s.days:
                    continue
                t0, t1 = _hm(s.start), _hm(s.end)
                end_day = day if t1 > t0 else day + dt.timedelta(days=1)
                breaks = []
                for b in s.breaks:
                    b0, b1 = (_hm(x) for x in b.split("-"))
                    # A break before the shift's start time belongs to the next day (night shift).
                    bd0 = day if b0 >= t0 else day + dt.timedelta(days=1)
                    bd1 = bd0 if b1 > b0 else bd0 + dt.timedelta(days=1)
                    breaks.append((self._utc_ns(bd0, b0), self._utc_ns(bd1, b1)))
                out.append(ShiftInstance(f"{day.isoformat()}/{s.name}", s.name,
                                         self._utc_ns(day, t0), self._utc_ns(end_day, t1), tuple(breaks)))
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[day] = out
        return out

    def shift_at(self, t_ns: int) -> ShiftInstance | None:
        """The shift instance covering ``t_ns`` (breaks included), if any."""
        day = self.local_date(t_ns)
        for d in (day, day - dt.timedelta(days=1)):
            for inst in self.shifts_on(d):
                if inst.start_ns <= t_ns < inst.end_ns:
                    return inst
        return None

    def minute_info(self, minute_ns: int) -> tuple[bool, ShiftInstance | None]:
        """(planned, shift) for the minute starting at ``minute_ns``."""
        inst = self.shift_at(minute_ns)
        return (inst is not None and inst.planned_at(minute_ns)), inst
