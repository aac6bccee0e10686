"""Adapters from the other areas' code to what the screens show.

Each function reads (or writes a user entry) through the owning area's API
(appliance.kpi, appliance.alerts, content, appliance.models.registry). When that area is
not installed yet, ``NotAvailable`` is raised and the screen says so: the UI
never invents numbers.
"""

from __future__ import annotations

from appliance import alerts
from appliance.errors import WerkvloerError
from appliance.kpi import baseline as kpi_baseline
from appliance.kpi import calendar as kpi_calendar
from appliance.kpi import commands as kpi_commands
from appliance.kpi import export as kpi_export
from appliance.kpi import queries as kpi_queries
from appliance.kpi import reasons as kpi_reasons
from appliance.models import registry as model_registry_mod
from content import install as content_install
from content import next_step as content_next_step
from content import progress as content_progress

__all__ = ["NotAvailable", "kpi_commands", "kpi_queries"]


class NotAvailable(WerkvloerError, LookupError):
    """A part of the box this screen needs has no data yet (its tables were never created)."""

    def __init__(self, part: str, why: str = "not available yet") -> None:
        self.part = part
        super().__init__(f"{part}: {why}")


# ----- KPIs (appliance.kpi) -------------------------------------------------------
_kpi_cache: dict = {}


def calendar(config):  # type: ignore[no-untyped-def]
    key = ("cal", id(config))
    if key not in _kpi_cache:
        _kpi_cache[key] = kpi_calendar.ShiftCalendar(config.machine, config.box.timezone)
    return _kpi_cache[key]


def reason_tree(config):  # type: ignore[no-untyped-def]
    key = ("tree", id(config))
    if key not in _kpi_cache:
        _kpi_cache[key] = kpi_reasons.ReasonTree.from_config(config.machine)
    return _kpi_cache[key]


def _has_kpi_tables(db) -> bool:  # type: ignore[no-untyped-def]
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'kpi_stops'").fetchone() is not None


def oee_today(db, config):  # type: ignore[no-untyped-def]
    """{"oee", "availability", "performance", "quality", "parts_per_hour", "good", "scrap"}."""
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    row = kpi_queries.oee_now(db, calendar=calendar(config))["today"]
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
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    s = kpi_queries.current_stop(db, tree=reason_tree(config))
    return stop_view(s, lang) if s else None


def stops_needing_reason(db, config, lang="nl"):  # type: ignore[no-untyped-def]
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    return [stop_view(s, lang) for s in
            kpi_queries.stops_needing_reason(db, micro_stop_s=config.machine.micro_stop_s, tree=reason_tree(config))]


def _reasons_entered(db) -> int:  # type: ignore[no-untyped-def]
    if not _has_kpi_tables(db):
        return 0
    return int(db.execute("SELECT count(*) FROM kpi_stops WHERE reason IS NOT NULL").fetchone()[0])


def product_choice(db, config):  # type: ignore[no-untyped-def]
    """The operator's product chooser: configured products, the chosen one, whether a PLC signal decides."""
    m = config.machine
    row = db.execute("SELECT value FROM settings WHERE key = 'kpi.product'").fetchone()
    current = (row[0] or None) if row else None
    return {"products": [{"id": p.id, "name": p.name, "ideal_cycle_s": p.ideal_cycle_s} for p in m.products],
            "current": current if any(p.id == current for p in m.products) else None,
            # A PLC product code that names a product wins over the operator's choice (appliance.kpi.engine).
            "plc_decides": bool(m.product_signal) and any(p.code is not None for p in m.products),
            "default_ideal_cycle_s": m.ideal_cycle_s}


def set_product(db, config, *, product_id, role):  # type: ignore[no-untyped-def]
    """Operator's product choice through appliance.kpi (audited there); ValueError for an unknown id."""
    kpi_commands.set_product(db, product_id=product_id, role=role, known=[p.id for p in config.machine.products])


# ----- content ---------------------------------------------------------------------
def next_step(db, config, lang, guard_mode=None):  # type: ignore[no-untyped-def]
    """{"step": {"id", "title"} | None, "why": str, "kind": "step"|"assessment"}"""
    lib = library(config.box.data_dir)
    progress = content_progress.all_progress(db)
    s = content_next_step.suggest_next_step(lib, box_facts(db, config, guard_mode), progress)
    if s is None:
        return {"step": None, "why": ""}
    why = s.reason.get(lang) or next(iter(s.reason.values()), "")
    if s.kind == "assessment" or s.step_id is None:
        return {"step": None, "assessment": True, "why": why}
    step = lib.step(s.step_id)
    return {"step": {"id": step.id, "title": step.text(lang).title}, "why": why}


_library: tuple = (None, None)  # (key, library)


def library(data_dir=None):  # type: ignore[no-untyped-def]
    """The content library: shipped packs plus those installed under data_dir; reloaded after an install."""
    global _library
    key = (str(data_dir), content_install.install_stamp(data_dir))
    if _library[0] != key:
        _library = (key, content_install.load_box_library(data_dir))
    return _library[1]



def box_facts(db, config, guard_mode: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The facts content.next_step can use, from what the box knows (missing = unknown)."""
    facts: dict = {"sources_configured": bool(config.signal_names)}
    if guard_mode in ("off", "shadow", "armed"):
        facts["guard_mode"] = guard_mode
    try:
        facts["check_taken"] = content_progress.latest_run(db) is not None
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
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alerts'").fetchone() is None:
        raise NotAvailable("alerts", "alert tables not created yet (start the core once)")
    return alerts.AlertStore(db)


def _alerts_total(db) -> int:  # type: ignore[no-untyped-def]
    alert_store(db)
    return int(db.execute("SELECT count(*) FROM alerts").fetchone()[0])


def _alerts_labelled(db) -> int:  # type: ignore[no-untyped-def]
    alert_store(db)
    return int(db.execute("SELECT count(*) FROM alerts WHERE label IS NOT NULL").fetchone()[0])


# ----- models (appliance.models.registry) ----------------------------------------------------------
_shipped_synced: set[str] = set()  # database files whose shipped models are registered
# Evaluation figures shown first (the rest of the manifest's evaluation stays in the API).
EVAL_KEYS = ("roc_auc", "false_alarms_per_hour_debounced_3_of_5", "false_alarms_per_hour_raw", "accuracy",
             "good_vs_defect_roc_auc", "good_vs_defect_accuracy_at_threshold", "defects_missed_at_threshold")


def model_registry(db, config):  # type: ignore[no-untyped-def]
    """The registry on this thread's connection (shipped models registered once per process)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'model_versions'").fetchone() is None:
        raise NotAvailable("model registry", "model tables not created yet (start the core once)")
    key = str(db.execute("PRAGMA database_list").fetchone()[2])
    shipped = model_registry_mod.SHIPPED_DIR if key not in _shipped_synced else None
    reg = model_registry_mod.ModelRegistry(db, data_dir=config.box.data_dir, shipped_dir=shipped)
    _shipped_synced.add(key)
    return reg


def _evaluation(ev: dict) -> dict:
    picked = {k: ev[k] for k in EVAL_KEYS if isinstance(ev.get(k), int | float)}
    if not picked:
        picked = {k: v for k, v in ev.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        picked = dict(list(picked.items())[:4])
    return picked


def model_view(reg, model_id: str) -> dict:  # type: ignore[no-untyped-def]
    """One model: slots, every version (with its evaluation figures), the shadow comparison."""
    dep = reg.deployment(model_id)
    active = dep.active.version if dep.active else None
    shadow = dep.shadow.version if dep.shadow else None
    versions = []
    for mv in reversed(reg.versions(model_id)):  # newest first
        slot = "active" if mv.version == active else "shadow" if mv.version == shadow else (
            "candidate" if mv.source == "installed" else "shipped")
        versions.append({"version": mv.version, "source": mv.source, "slot": slot, "sha256": mv.sha256,
                         "installed_utc_ns": mv.installed_ts, "created": str(mv.manifest.created),
                         "threshold": mv.manifest.default_threshold, "evaluation": _evaluation(mv.manifest.evaluation),
                         "evaluation_all": mv.manifest.evaluation})
    raw = reg.latest_comparison(model_id)
    cmp = None
    if raw is not None and raw.get("shadow_version") == shadow and raw.get("active_version") == active:
        # The guard stores these every minute and at each swap (earlier pairs are left out).
        cmp = {"windows": raw.get("n"), "agreement": raw.get("agreement_rate"), "correlation": raw.get("correlation"),
               "mean_abs_diff": raw.get("mean_abs_diff"), "utc_ns": raw.get("ts"), "from": "registry"}
    all_versions = reg.versions(model_id)
    return {"id": model_id, "kind": all_versions[-1].kind if all_versions else None,
            "active": active, "shadow": shadow, "candidates": [c.version for c in dep.candidates],
            "versions": versions, "comparison": cmp,
            "can_rollback": reg.can_rollback(model_id, slot="active"),
            "can_rollback_shadow": reg.can_rollback(model_id, slot="shadow")}


def models_list(db, config, guard=None):  # type: ignore[no-untyped-def]
    """Every model (see ``model_view``); ``guard`` = the guard's live status, whose shadow
    figures (fresher than the registry's) replace the stored comparison."""
    reg = model_registry(db, config)
    out = [model_view(reg, m) for m in reg.model_ids()]
    for m in out:
        for b in (guard or {}).get("models") or []:
            sh = b.get("shadow") if isinstance(b, dict) else None
            if b.get("model") == m["id"] and sh and sh.get("version") == m["shadow"] and b.get("version") == m["active"]:
                m["comparison"] = {"windows": sh.get("windows"), "agreement": sh.get("agreement"),
                                   "correlation": sh.get("correlation"), "active_trips": sh.get("active_trips"),
                                   "shadow_trips": sh.get("shadow_trips"), "binding": b.get("name"), "from": "guard"}
    return out


def baseline_report(db, config, lang="nl"):  # type: ignore[no-untyped-def]
    """Baseline vs pilot (bootstrap interval over days) and the ROI estimate, or None
    when no period is marked yet."""
    from .fmt import KPI_LABELS
    from .i18n import translations

    periods = kpi_queries.get_periods(db)
    if not periods.get("baseline") or not periods.get("pilot"):
        return None
    rep = kpi_baseline.baseline_report(db, calendar=calendar(config))
    roi = kpi_baseline.roi_estimate(rep, db=db)
    t = translations(lang)
    kpis = [{"kpi": k.kpi, "label": t.gettext(KPI_LABELS.get(k.kpi, k.kpi)), "baseline": k.baseline,
             "pilot": k.pilot, "change_pct": k.change_pct, "change_lo_pct": k.ci_low_pct,
             "change_hi_pct": k.ci_high_pct, "significant": k.significant, "improved": k.improved,
             "ratio": k.kpi in ("oee", "availability", "performance", "quality", "scrap_rate")}
            for k in rep.kpis]
    return {"kpis": kpis, "baseline_days": rep.baseline_days, "pilot_days": rep.pilot_days, "note": rep.note,
            "roi": vars(roi)}


def export_text(db, config, *, start_ns: int, end_ns: int, granularity: str, fmt: str, lang: str = "nl") -> str:  # type: ignore[no-untyped-def]
    """KPI rows as CSV / Dutch-Excel CSV / JSON through appliance.kpi.export (same rows as the API)."""
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    rows = kpi_export.export_rows(db, calendar=calendar(config), start_ns=start_ns, end_ns=end_ns, granularity=granularity)
    if fmt == "json":
        return kpi_export.to_json(rows, meta={"granularity": granularity, "start_ns": start_ns, "end_ns": end_ns})  # type: ignore[no-any-return]
    if fmt == "csv-nl":  # for people opening it in Excel: words, rounded numbers, empty energy without a meter
        from .export_view import readable_csv

        return readable_csv(rows, lang=lang, has_energy_meter=bool(config.machine.energy_signal))
    return kpi_export.to_csv(rows)  # type: ignore[no-any-return]


def state_segments(db, start_ns: int, end_ns: int):  # type: ignore[no-untyped-def]
    """kpi_state intervals overlapping [start_ns, end_ns), oldest first: (start, end, state, stop_id).
    A read of appliance.kpi's table that its store has no query for yet (the shift timeline)."""
    if not _has_kpi_tables(db):
        raise NotAvailable("KPIs", "no KPI data yet")
    return db.execute("SELECT start_ts, end_ts, state, stop_id FROM kpi_state WHERE end_ts > ? AND start_ts < ? "
                      "ORDER BY start_ts", [start_ns, end_ns]).fetchall()
