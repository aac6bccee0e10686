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
def next_step(db, config, lang, guard_mode=None):  # type: ignore[no-untyped-def]
    """{"step": {"id", "title"} | None, "why": str, "kind": "step"|"assessment"}"""
    lib = library()
    ns = need("content.next_step", "blueprint")
    progress = progress_mod().all_progress(db)
    s = ns.suggest_next_step(lib, box_facts(db, config, guard_mode), progress)
    if s is None:
        return {"step": None, "why": ""}
    why = s.reason.get(lang) or next(iter(s.reason.values()), "")
    if s.kind == "assessment" or s.step_id is None:
        return {"step": None, "assessment": True, "why": why}
    step = lib.step(s.step_id)
    return {"step": {"id": step.id, "title": step.text(lang).title}, "why": why}


_library = None


def library():  # type: ignore[no-untyped-def]
    """The content library, loaded once per process."""
    global _library
    if _library is None:
        loader = need("content.loader", "blueprint")
        _library = loader.load_library()
    return _library


def progress_mod():  # type: ignore[no-untyped-def]
    return need("content.progress", "blueprint progress")


def box_facts(db, config, guard_mode: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The facts content.next_step can use, from what the box knows (missing = unknown)."""
    facts: dict = {"sources_configured": bool(config.signal_names)}
    if guard_mode in ("off", "shadow", "armed"):
        facts["guard_mode"] = guard_mode
    try:
        facts["check_taken"] = progress_mod().latest_run(db) is not None
    except NotAvailable:
        pass
    for key, fn in (("downtime_reasons_entered", _reasons_entered), ("alerts_total", _alerts_total),
                    ("alerts_labelled", _alerts_labelled)):
        try:
            facts[key] = fn(db)
        except (NotAvailable, Exception):  # noqa: BLE001 - a fact we cannot read is simply unknown
            pass
    return facts


def _reasons_entered(db) -> int:  # type: ignore[no-untyped-def]
    raise NotAvailable("KPIs")


def _alerts_total(db) -> int:  # type: ignore[no-untyped-def]
    raise NotAvailable("alerts")


def _alerts_labelled(db) -> int:  # type: ignore[no-untyped-def]
    raise NotAvailable("alerts")


# ----- models (models.registry) ----------------------------------------------------------
def models_list(db):  # type: ignore[no-untyped-def]
    raise NotAvailable("model registry")
