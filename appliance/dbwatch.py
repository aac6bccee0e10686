"""A failing SQLite writer thread is an alert, not a log line: ``DbWriteWatch``.

Every :class:`appliance.dbworker.DbWorker` (the recorder, the alert consumer,
the KPI engine, the guard's trip writer) reports a failing write as a health
state. The watch reads those states every ``DB_WATCH_S`` and turns each change
into one alert through the normal alert path (the ``AlertSink``): a critical
alert when a writer starts failing, with a title that says what to do (disk
full, read-only, locked, other), and an info alert when it writes again. It
never raises the same alert twice in a row, so a writer that stays failing is
one alert, not one per round.

When the failing writer is the alert consumer itself, or the whole database is
full, the alert cannot be stored yet: the consumer keeps it (``pending`` in its
health) and stores it as soon as the database takes writes again. Until then
it is still visible: :meth:`DbWriteWatch.failing` is in the core's ``status``
(``GET /api/v1/health``, the systemd status line) and turns the stack light to
attention.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

DB_WATCH_S = 2.0

# What each writer stores, as a person reads it (nl, en).
WHAT = {
    "recorder": ("de meetwaarden", "the measured values"),
    "alert-consumer": ("de meldingen", "the alerts"),
    "kpi": ("de KPI's", "the KPIs"),
    "guard-writer": ("de stopregistratie", "the stop records"),
}


def is_failing(health: Mapping[str, Any]) -> bool:
    """A writer's health dict says its writes fail (``failing``, or running but not available)."""
    state = health.get("state")
    return state == "failing" or (state in ("ok", "running") and health.get("available") is False)


def _cause(error: str) -> tuple[str, str, str]:
    """(cause, nl advice, en advice) for a SQLite/OS error text."""
    e = error.lower()
    if "full" in e or "no space" in e:
        return ("disk_full", "schijf vol. Maak ruimte vrij (oude exports weg, kortere bewaartijd)",
                "disk full. Free space (remove old exports, shorter retention)")
    if "readonly" in e or "read-only" in e:
        return ("read_only", "de database is alleen-lezen. Controleer de schijf en de rechten van de datamap",
                "the database is read-only. Check the disk and the data directory's permissions")
    if "locked" in e or "busy" in e:
        return ("locked", "de database is bezet. Stop het andere programma dat hem vasthoudt",
                "the database is locked. Stop the other program that holds it")
    return ("error", "zie het logboek van de box", "see the box's log")


class DbWriteWatch:
    """One alert per writer that starts failing, one info alert when it writes again.

    ``checks``: name (a key of ``WHAT``) -> a callable returning that writer's
    health dict (``state``, ``available``, ``last_error``).
    """

    def __init__(self, sink: Any, checks: Mapping[str, Callable[[], Mapping[str, Any]]]) -> None:
        self.sink = sink
        self.checks = dict(checks)
        self._failing: dict[str, str] = {}  # name -> the error when it started failing

    def failing(self) -> dict[str, str]:
        """The writers failing now, with their error (for the core's status)."""
        return dict(self._failing)

    def check(self) -> None:
        for name, health in self.checks.items():
            try:
                h = health()
            except Exception as exc:  # a health() that breaks must not stop the watch
                h = {"state": "failing", "last_error": f"{type(exc).__name__}: {exc}"}
            nl_what, en_what = WHAT.get(name, (name, name))
            if is_failing(h):
                if name in self._failing:
                    continue
                error = str(h.get("last_error") or "write failed")
                self._failing[name] = error
                cause, nl, en = _cause(error)
                self.sink.submit(
                    source="box", kind="db_write_failed", severity="critical", dedupe_key=f"box:db_write:{name}",
                    title={"nl": f"Box kan {nl_what} niet opslaan: {nl}; wat al is opgeslagen blijft bewaard",
                           "en": f"The box cannot store {en_what}: {en}; what is already stored is kept"},
                    detail={"nl": "Wat nog niet is opgeslagen, houdt de box vast; hij probeert het steeds opnieuw "
                                  "en slaat het op zodra de database weer schrijven toelaat.",
                            "en": "The box keeps what it has not stored yet and keeps retrying; it stores it as "
                                  "soon as the database takes writes again.", "error": f"{name}: {error}"},
                    evidence={"part": name, "cause": cause, "error": error})
            elif name in self._failing:
                del self._failing[name]
                self.sink.submit(
                    source="box", kind="db_write_back", severity="info", dedupe_key=f"box:db_write:{name}:back",
                    title={"nl": f"Box slaat {nl_what} weer op", "en": f"The box stores {en_what} again"},
                    evidence={"part": name})


async def watch_db_writes(watch: DbWriteWatch, *, period_s: float = DB_WATCH_S) -> None:
    """The core's background task (``parts.background``)."""
    while True:
        await asyncio.sleep(period_s)
        watch.check()  # on the loop, as the status op that reads failing()
