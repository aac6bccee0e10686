"""The KPI engine's clocks: the (mono, UTC) offset, clock jumps and the boot hold until NTP.

Durations come from the samples' monotonic timestamps; UTC for storage is
``mono + offset``. A change of that offset by more than ``machine.clock_jump_s``
is a clock jump. At boot (a Pi has no RTC) writes are held until the system
clock is NTP-synchronised, at most ``machine.clock_hold_s``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .calendar import NS

log = logging.getLogger("appliance.kpi.engine")


def system_clock_synced() -> bool:
    """True when systemd-timesyncd says the clock is synchronised, or when it is not in use."""
    d = Path("/run/systemd/timesync")
    return (d / "synchronized").exists() if d.is_dir() else True


class ClockWatch:
    """Follows the UTC - mono offset; ``observe`` answers the jump (ns) when it moved too far."""

    def __init__(self, jump_ns: int) -> None:
        self.jump_ns = jump_ns
        self.offset: int | None = None
        self.jumps = 0

    def observe(self, offset: int) -> int | None:
        if self.offset is None:
            self.offset = offset
            return None
        d = offset - self.offset
        self.offset = offset
        if abs(d) > self.jump_ns:
            self.jumps += 1
            log.warning("system clock jumped by %.1f s; KPI durations stay monotonic", d / NS)
            return d
        return None


class ClockHold:
    """Whether writes may go ahead: the clock is synchronised, or it was held long enough."""

    def __init__(self, hold_s: float, synced: Callable[[], bool]) -> None:
        self.hold_ns = hold_s * NS
        self.synced = synced
        self._logged = False

    def ok(self, held_ns: int) -> bool:
        if self.synced():
            return True
        if held_ns >= self.hold_ns:
            if not self._logged:
                log.warning("clock not NTP-synchronised after %.0f s; writing KPIs on the current clock",
                            held_ns / NS)
                self._logged = True
            return True
        return False
