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
_kpi_cache: dict = {}


def kpi_store():  # type: ignore[no-untyped-def]
    return need("appliance.kpi.store", "KPIs")


def calendar(config):  # type: ignore[no-untyped-def]
    key = ("cal", id(config))
    if key not in _kpi_cache:
        cal = need("appliance.kpi.calendar", "KPIs")
        _kpi_cache[key] = cal.ShiftCalendar(config.machine, config.box.timezone)
    return _kpi_cache[key]


def reason_tree(config):  # type: ignore[no-untyped-def]
    key = ("tree", id(config))
    if key not in _kpi_cache:
        reasons = need("appliance.kpi.reasons", "KPIs")
        _kpi_cache[key] = reasons.ReasonTree.from_config(config.machine)
    return _kpi_cache[key]


def _has_kpi_tables(db) -> bool:  # type: ignore[no-untyped-def]
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'kpi_stops'").fetchone() is not None


def oee_today(db, config):  # type: ignore[no-untyped-def]
    """{"oee", "availability", "performance", "quality", "parts_per_hour", "good", "scrap"}."""
    store = kpi_store()
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    row = store.oee_now(db, calendar=calendar(config))["today"]
    return {"oee": row.oee, "availability": row.availability, "performance": row.performance,
            "quality": row.quality, "parts_per_hour": row.parts_per_hour, "good": row.gq, "scrap": row.sq,
            "no_data_share": row.no_data_share}


def stop_view(stop, lang, now_ns=None):  # type: ignore[no-untyped-def]
    import time

    now_ns = now_ns or time.time_ns()
    dur = stop.dur_s if stop.end_ts is not None else max(stop.dur_s, (now_ns - stop.start_ts) / 1e9)
    label = stop.reason_label_nl if lang == "nl" else stop.reason_label_en
    return {"id": stop.id, "start_utc_ns": stop.start_ts, "end_utc_ns": stop.end_ts, "duration_s": dur,
            "state": stop.state, "reason": stop.reason, "reason_label": label or stop.reason,
            "open": stop.end_ts is None, "comment": stop.comment, "split_from": stop.split_from}


def current_stop(db, config, lang="nl"):  # type: ignore[no-untyped-def]
    """The open stop (or None)."""
    store = kpi_store()
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    s = store.current_stop(db, tree=reason_tree(config))
    return stop_view(s, lang) if s else None


def stops_needing_reason(db, config, lang="nl"):  # type: ignore[no-untyped-def]
    store = kpi_store()
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    return [stop_view(s, lang) for s in
            store.stops_needing_reason(db, micro_stop_s=config.machine.micro_stop_s, tree=reason_tree(config))]


def _reasons_entered(db) -> int:  # type: ignore[no-untyped-def]
    kpi_store()
    if not _has_kpi_tables(db):
        return 0
    return int(db.execute("SELECT count(*) FROM kpi_stops WHERE reason IS NOT NULL").fetchone()[0])


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


def alert_store(db):  # type: ignore[no-untyped-def]
    alerts = need("appliance.alerts", "alerts")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alerts'").fetchone() is None:
        raise NotAvailable("alerts", "alert tables not created yet (start the core once)")
    return alerts.AlertStore(db)


def _alerts_total(db) -> int:  # type: ignore[no-untyped-def]
    alert_store(db)
    return int(db.execute("SELECT count(*) FROM alerts").fetchone()[0])


def _alerts_labelled(db) -> int:  # type: ignore[no-untyped-def]
    alert_store(db)
    return int(db.execute("SELECT count(*) FROM alerts WHERE label IS NOT NULL").fetchone()[0])


# ----- models (models.registry) ----------------------------------------------------------
def models_list(db):  # type: ignore[no-untyped-def]
    raise NotAvailable("model registry")


def baseline_report(db, config, lang="nl"):  # type: ignore[no-untyped-def]
    """Baseline vs pilot (bootstrap interval over days) and the ROI estimate, or None
    when no period is marked yet."""
    from .fmt import KPI_LABELS
    from .i18n import translations

    baseline = need("appliance.kpi.baseline", "baseline vs pilot report")
    periods = kpi_store().get_periods(db)
    if not periods.get("baseline") or not periods.get("pilot"):
        return None
    rep = baseline.baseline_report(db, calendar=calendar(config))
    roi = baseline.roi_estimate(rep, db=db)
    t = translations(lang)
    kpis = [{"kpi": k.kpi, "label": t.gettext(KPI_LABELS.get(k.kpi, k.kpi)), "baseline": k.baseline,
             "pilot": k.pilot, "change_pct": k.change_pct, "change_lo_pct": k.ci_low_pct,
             "change_hi_pct": k.ci_high_pct, "significant": k.significant, "improved": k.improved,
             "ratio": k.kpi in ("oee", "availability", "performance", "quality", "scrap_rate")}
            for k in rep.kpis]
    return {"kpis": kpis, "baseline_days": rep.baseline_days, "pilot_days": rep.pilot_days, "note": rep.note,
            "roi": vars(roi)}


def export_text(db, config, *, start_ns: int, end_ns: int, granularity: str, fmt: str) -> str:  # type: ignore[no-untyped-def]
    """KPI rows as CSV / Dutch-Excel CSV / JSON through appliance.kpi.export (same rows as the API)."""
    export = need("appliance.kpi.export", "KPI export")
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    rows = export.export_rows(db, calendar=calendar(config), start_ns=start_ns, end_ns=end_ns, granularity=granularity)
    if fmt == "json":
        return export.to_json(rows, meta={"granularity": granularity, "start_ns": start_ns, "end_ns": end_ns})  # type: ignore[no-any-return]
    return export.to_csv(rows, dutch=fmt == "csv-nl")  # type: ignore[no-any-return]
