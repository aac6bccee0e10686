"""The Dutch-Excel KPI download for people: column names in words, numbers rounded to what
means something, local date and time, and an empty cell where a figure is not defined (energy
without a meter). The plain CSV and JSON stay the API's exact numbers (appliance.kpi.export)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from .fmt import KPI_LABELS
from .i18n import N_, translations

COLUMN_LABELS = {
    "period": N_("Period"), "start": N_("Start"), "end": N_("End"),
    "pot_s": N_("Planned time (h)"), "pbt_s": N_("Planned busy time (h)"), "apt_s": N_("Run time (h)"),
    "pdot_s": N_("Unplanned stops (h)"), "nodata_s": N_("No data (h)"), "pq": N_("Parts made"),
    "gq": N_("Good parts"), "sq": N_("Scrap parts"), "micro_n": N_("Micro-stops"), "micro_s": N_("Micro-stops (min)"),
    "failures": N_("Breakdowns"), "mtbf_s": N_("Mean time between failures (h)"), "mttr_s": N_("Mean time to repair (min)"),
    "energy_kwh": N_("Energy (kWh)"), "energy_per_good_kwh": N_("Energy per good part (kWh)"),
}
RATIOS = ("availability", "performance", "quality", "oee", "scrap_rate")
ENERGY = ("energy_kwh", "energy_per_good_kwh")
# column -> (divide by, decimals)
SCALE = {"pot_s": (3600, 2), "pbt_s": (3600, 2), "apt_s": (3600, 2), "pdot_s": (3600, 2), "nodata_s": (3600, 2),
         "micro_s": (60, 1), "mtbf_s": (3600, 2), "mttr_s": (60, 1), "energy_kwh": (1, 2),
         "energy_per_good_kwh": (1, 4), "parts_per_hour": (1, 1), "good_per_hour": (1, 1)}


def _num(v: float, decimals: int, lang: str) -> str:
    text = f"{v:.{decimals}f}"
    return text.replace(".", ",") if lang == "nl" else text


def readable_csv(rows: list[dict[str, Any]], *, lang: str, has_energy_meter: bool) -> str:
    t = translations(lang)
    if not rows:
        return ""
    cols = list(rows[0])
    names = []
    for c in cols:
        if c in RATIOS:
            names.append(f"{t.gettext(KPI_LABELS.get(c, c))} (%)")
        else:
            names.append(t.gettext(COLUMN_LABELS.get(c) or KPI_LABELS.get(c) or c))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(names)
    for r in rows:
        out = []
        for c in cols:
            v = r[c]
            if c in ENERGY and not has_energy_meter:
                v = None  # no meter: not defined, not zero
            if v is None:
                out.append("")
            elif c in ("start", "end") and isinstance(v, str):
                out.append(dt.datetime.fromisoformat(v).strftime("%d-%m-%Y %H:%M" if lang == "nl" else "%Y-%m-%d %H:%M"))
            elif c in RATIOS:
                out.append(_num(float(v) * 100, 1, lang))
            elif c in SCALE:
                div, dec = SCALE[c]
                out.append(_num(float(v) / div, dec, lang))
            elif isinstance(v, float):
                out.append(_num(v, 0 if v.is_integer() else 2, lang))
            else:
                out.append(str(v))
        w.writerow(out)
    return "\ufeff" + buf.getvalue()
