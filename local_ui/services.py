"""Adapters from the other areas' code to what the screens show.

Each function reads (or writes a user entry) through the owning area's API
(appliance.kpi, appliance.alerts, content, models.registry). When that area is
not installed yet, ``NotAvailable`` is raised and the screen says so: the UI
never invents numbers.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from appliance.errors import WerkvloerError


class NotAvailable(WerkvloerError, LookupError):
    """A part of the box this screen needs is not installed or not running."""

    def __init__(self, part: str, why: str = "not available yet") -> None:
        self.part = part
        super().__init__(f"{part}: {why}")


def need(module: str, part: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise NotAvailable(part) from None
        raise


# ----- KPIs (appliance.kpi) -------------------------------------------------------
def _kpi():  # type: ignore[no-untyped-def]
    return need("appliance.kpi.queries", "KPIs")


def oee_today(db, config):  # type: ignore[no-untyped-def]
    """{"oee", "availability", "performance", "quality", "parts_per_hour", "good", "scrap"}."""
    raise NotAvailable("KPIs")


def current_state(db, config):  # type: ignore[no-untyped-def]
    """{"state": key, "since_utc_ns": int|None}"""
    raise NotAvailable("KPIs")


def current_stop(db, config):  # type: ignore[no-untyped-def]
    """{"start_utc_ns", "duration_s", "reason"} or None."""
    raise NotAvailable("KPIs")


def stops_needing_reason(db, config):  # type: ignore[no-untyped-def]
    raise NotAvailable("KPIs")


# ----- content ---------------------------------------------------------------------
def next_step(db, config, lang):  # type: ignore[no-untyped-def]
    raise NotAvailable("blueprint")
