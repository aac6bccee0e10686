"""Number, time and label formatting for the screens (Dutch: decimal comma)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from .i18n import N_

STATE_LABELS = {
    "running": N_("Running"),
    "idle": N_("Idle"),
    "down": N_("Down"),
    "planned": N_("Planned stop"),
    "setup": N_("Setup"),
    "no_data": N_("No data"),
    "unknown": N_("Unknown"),
}
GUARD_LABELS = {
    "off": N_("Off"),
    "shadow": N_("Shadow: alerts only, no stop"),
    "armed": N_("Armed"),
    "tripped": N_("TRIPPED"),
    "unavailable": N_("Not available"),
}
ROLE_LABELS = {
    "operator": N_("operator"),
    "maintenance": N_("maintenance"),
    "coordinator": N_("coordinator"),
    "admin": N_("admin"),
}
ALERT_STATES = {
    "open": N_("Open"),
    "raised": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "labelled": N_("Labelled"),
    "closed": N_("Closed"),
    "all": N_("All"),
}
SEVERITY_LABELS = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Information")}
# Who raised an alert and what kind it is, in words (the stored codes are for machines).
SOURCE_LABELS = {"guard": N_("guard"), "driver": N_("connection"), "box": N_("box"), "kpi": N_("KPIs"),
                 "sync": N_("sync")}
KIND_LABELS = {"guard.trip": N_("guard stop"), "guard.model": N_("guard model"), "guard.output": N_("stop output"),
               "oee_below_target": N_("OEE below target"), "disk_low": N_("disk almost full"),
               "device_lost": N_("connection lost"), "device_back": N_("connection back"),
               "clock_jump": N_("clock jumped")}
# A model manifest's evaluation figures (local_ui.services.EVAL_KEYS) by name.
EVAL_LABELS = {"roc_auc": N_("ROC AUC"), "false_alarms_per_hour_debounced_3_of_5": N_("false alarms per hour (3 of 5)"),
               "false_alarms_per_hour_raw": N_("false alarms per hour (each window)"), "accuracy": N_("accuracy"),
               "good_vs_defect_roc_auc": N_("ROC AUC good vs defect"),
               "good_vs_defect_accuracy_at_threshold": N_("accuracy good vs defect at the threshold"),
               "defects_missed_at_threshold": N_("defects missed at the threshold")}
# Units the content area writes as words (its benefit inputs), as people read them ("h" is "u" in Dutch).
UNIT_WORDS = {"parts": N_("parts"), "h": N_("h"), "EUR/h": N_("EUR/h")}
LABEL_NAMES = {"true": N_("True alarm"), "false": N_("False alarm"), "unsure": N_("Unsure")}
KPI_LABELS = {
    "oee": N_("OEE"), "availability": N_("Availability"), "performance": N_("Performance"),
    "quality": N_("Quality"), "good_per_hour": N_("Good parts per hour"), "parts_per_hour": N_("Parts per hour"),
    "scrap_rate": N_("Scrap rate"), "mtbf_s": N_("Mean time between failures"),
    "mttr_s": N_("Mean time to repair"), "energy_per_good_kwh": N_("Energy per good part"),
}
NAV_ITEMS = [
    ("/", N_("Home"), "view"),
    ("/stops", N_("Stops"), "stops"),
    ("/alerts", N_("Alerts"), "alerts"),
    ("/kpis", N_("KPIs"), "kpi"),
    ("/blueprint", N_("Blueprint"), "content"),
    ("/sync", N_("Sync"), "kpi.edit"),
    ("/settings", N_("Settings"), "settings"),
]


def state_key(value: Any) -> str:
    """Map whatever the core/KPI engine calls a state to one of STATE_LABELS."""
    if value is None:
        return "unknown"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {0: "idle", 1: "running", 2: "down", 3: "setup"}.get(int(value), "unknown")
    s = str(value).lower().replace("-", "_").replace(" ", "_")
    if s in STATE_LABELS:
        return s
    if s.startswith("down_planned") or s in ("planned_down", "planned_stop", "break"):
        return "planned"
    if s.startswith("down"):
        return "down"
    if s in ("nodata", "no_data", "stale"):
        return "no_data"
    return "unknown"


def guard_key(status: dict[str, Any]) -> str:
    if not status or not status.get("available", True):
        return "unavailable"
    if status.get("tripped"):
        return "tripped"
    mode = str(status.get("mode", "")).lower()
    return mode if mode in ("off", "shadow", "armed") else "unavailable"


class Formatter:
    def __init__(self, lang: str, tz: str) -> None:
        self.lang = lang
        try:
            self.tz = ZoneInfo(tz)
        except Exception:  # noqa: BLE001 - a bad tz name must not break a page
            self.tz = ZoneInfo("UTC")

    def num(self, x: Any, digits: int = 1) -> str:
        if x is None:
            return "–"
        try:
            s = f"{float(x):,.{digits}f}"
        except (TypeError, ValueError):
            return str(x)
        if self.lang == "nl":
            s = s.replace(",", "\u2009").replace(".", ",")
        else:
            s = s.replace(",", "\u2009")
        return s

    def pct(self, x: Any, digits: int = 1) -> str:
        if x is None:
            return "–"
        return f"{self.num(float(x) * 100, digits)}\u00a0%"

    def time(self, utc_ns: int | None, *, date: bool = False) -> str:
        if not utc_ns:
            return "–"
        t = dt.datetime.fromtimestamp(utc_ns / 1e9, tz=self.tz)
        return t.strftime("%d-%m-%Y %H:%M" if date else "%H:%M")

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        s = int(seconds)
        if s < 60:
            return f"{s} s"
        if s < 3600:
            return f"{s // 60} min {s % 60:02d} s"
        hours = "u" if self.lang == "nl" else "h"  # Dutch writes uur as u (issue 14)
        return f"{s // 3600} {hours} {s % 3600 // 60:02d} min"
