"""Logging a signal's bad values for people: once per bad spell, and a
flapping signal at most once per ``quiet_s``.

A value that is bad (NaN, out of range, a bad status) is logged at WARNING
when a bad spell starts, and at INFO when it is good again. Issue 16: a signal
flapping between NaN and good wrote 212 lines in 110 s. Now a new bad spell
that starts within ``quiet_s`` of the last WARNING for that signal goes to
DEBUG (with its "good again"), and the next WARNING says how many spells were
not logged. The samples themselves are unaffected: each one carries its quality.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Spell:
    why: str | None = None  # the current bad spell's first reason; None while good
    logged: bool = False  # this spell's WARNING was written (so its recovery is INFO)
    warned_at: float | None = None
    unlogged: int = 0  # spells since the last WARNING that went to DEBUG


class Complaints:
    """``c.bad(signal, why)`` for every bad value, ``c.good(signal)`` for every good one."""

    def __init__(self, logger: logging.Logger, prefix: str, *, quiet_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._prefix = prefix
        self.quiet_s = quiet_s
        self._clock = clock
        self._spells: dict[str, _Spell] = {}
        self.any_bad = False  # fast path for good(): nothing to clear

    def bad(self, signal: str, why: str, level: int = logging.WARNING) -> None:
        sp = self._spells.get(signal)
        if sp is None:
            sp = self._spells[signal] = _Spell()
        if sp.why is not None:
            return  # the same spell: already reported (or deliberately not)
        self.any_bad = True
        sp.why = why
        now = self._clock()
        if sp.warned_at is None or now - sp.warned_at >= self.quiet_s:
            more = f" ({sp.unlogged} more bad spells since the last report)" if sp.unlogged else ""
            self._log.log(level, "%s: signal %s is bad: %s%s", self._prefix, signal, why, more)
            sp.logged, sp.warned_at, sp.unlogged = True, now, 0
        else:
            sp.logged = False
            sp.unlogged += 1
            self._log.debug("%s: signal %s is bad again: %s", self._prefix, signal, why)

    def good(self, signal: str) -> None:
        if not self.any_bad:
            return
        sp = self._spells.get(signal)
        if sp is None or sp.why is None:
            return
        sp.why = None
        self._log.log(logging.INFO if sp.logged else logging.DEBUG, "%s: signal %s is good again",
                      self._prefix, signal)
        self.any_bad = any(s.why is not None for s in self._spells.values())

    def reason(self, signal: str) -> str | None:
        sp = self._spells.get(signal)
        return sp.why if sp else None
