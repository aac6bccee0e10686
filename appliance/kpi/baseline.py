"""Baseline versus pilot: each KPI for both periods, the change in %, and a
bootstrap interval over days; plus a small ROI estimate.

Method: the unit of resampling is a day with planned busy time. Each
bootstrap replicate draws the baseline days and the pilot days with
replacement (same counts as observed), sums the base quantities (APT, PBT,
PQ, GQ, ...) and computes the KPI as a ratio of sums, exactly as the report
does; the change in % per replicate gives the 2.5/97.5 percentiles. Seeded, so
the same data gives the same interval. A change whose interval includes 0 is
not shown as an improvement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .calendar import ShiftCalendar
from .oee import KpiRow, summarize
from .queries import RoiInputs, get_periods, get_roi_inputs, period_rows

# kpi -> (higher is better)
REPORT_KPIS: dict[str, bool] = {
    "oee": True, "availability": True, "performance": True, "quality": True,
    "good_per_hour": True, "parts_per_hour": True, "scrap_rate": False,
    "mtbf_s": True, "mttr_s": False, "energy_per_good_kwh": False,
}
_BASE = ("pot_s", "pdot_s", "nodata_s", "apt_s", "pq", "gq", "sq", "ideal_s", "energy_kwh",
         "failures", "failure_down_s")


def _kpi_from_sums(name: str, s: dict[str, np.ndarray]) -> np.ndarray:
    pbt = np.maximum(s["pot_s"] - s["pdot_s"] - s["nodata_s"], 0.0)

    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 1e-9, a / np.where(b > 1e-9, b, 1.0), np.nan)

    a = div(s["apt_s"], pbt)
    p = div(s["ideal_s"], s["apt_s"])
    q = div(s["gq"], s["pq"])
    return {
        "availability": lambda: a, "performance": lambda: p, "quality": lambda: q,
        "oee": lambda: np.where(np.isnan(p) & (pbt > 0), 0.0, a * p * q),
        "good_per_hour": lambda: div(s["gq"] * 3600, pbt), "parts_per_hour": lambda: div(s["pq"] * 3600, pbt),
        "scrap_rate": lambda: div(s["sq"], s["pq"]),
        "mtbf_s": lambda: div(s["apt_s"], s["failures"]), "mttr_s": lambda: div(s["failure_down_s"], s["failures"]),
        "energy_per_good_kwh": lambda: div(s["energy_kwh"], s["gq"]),
    }[name]()


@dataclass
class KpiComparison:
    kpi: str
    higher_is_better: bool
    baseline: float | None
    pilot: float | None
    change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    significant: bool  # the interval excludes 0
    improved: bool | None  # significant and in the good direction


@dataclass
class BaselineReport:
    baseline_period: tuple[int, int] | None
    pilot_period: tuple[int, int] | None
    baseline_days: int
    pilot_days: int
    resamples: int
    seed: int
    kpis: list[KpiComparison] = field(default_factory=list)
    baseline_total: KpiRow | None = None
    pilot_total: KpiRow | None = None
    note: str = ("Change in % with a 95% bootstrap interval over days; a change whose interval "
                 "includes 0 may be day-to-day variation, not an improvement.")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("baseline_total", "pilot_total"):
            row = getattr(self, k)
            d[k] = row.as_dict() if row is not None else None
        return d


def _day_arrays(rows: list[KpiRow]) -> dict[str, np.ndarray]:
    rows = [r for r in rows if r.pbt_s > 0]
    return {b: np.array([float(getattr(r, b)) for r in rows]) for b in _BASE}


def compare_days(baseline_rows: list[KpiRow], pilot_rows: list[KpiRow], *, kpis: list[str] | None = None,
                 resamples: int = 2000, seed: int = 0) -> list[KpiComparison]:
    """Compare two sets of day rows (pure; used by ``baseline_report``)."""
    kpis = kpis or list(REPORT_KPIS)
    for k in kpis:
        if k not in REPORT_KPIS:
            raise ValueError(f"unknown KPI {k!r}; choose from {', '.join(REPORT_KPIS)}")
    b, p = _day_arrays(baseline_rows), _day_arrays(pilot_rows)
    nb, np_ = len(b["apt_s"]), len(p["apt_s"])
    rng = np.random.default_rng(seed)
    ib = rng.integers(0, nb, size=(resamples, nb)) if nb else None
    ip = rng.integers(0, np_, size=(resamples, np_)) if np_ else None
    out = []
    for k in kpis:
        hib = REPORT_KPIS[k]
        bv = float(_kpi_from_sums(k, {x: np.array([b[x].sum()]) for x in _BASE})[0]) if nb else float("nan")
        pv = float(_kpi_from_sums(k, {x: np.array([p[x].sum()]) for x in _BASE})[0]) if np_ else float("nan")
        change = lo = hi = None
        if nb and np_ and np.isfinite(bv) and np.isfinite(pv) and abs(bv) > 1e-12:
            change = (pv - bv) / abs(bv) * 100
            if nb >= 2 and np_ >= 2:
                bs = _kpi_from_sums(k, {x: b[x][ib].sum(axis=1) for x in _BASE})
                ps = _kpi_from_sums(k, {x: p[x][ip].sum(axis=1) for x in _BASE})
                with np.errstate(divide="ignore", invalid="ignore"):
                    ch = (ps - bs) / np.abs(bs) * 100
                ch = ch[np.isfinite(ch)]
                if len(ch) >= resamples // 2:
                    lo, hi = (float(x) for x in np.percentile(ch, [2.5, 97.5]))
        significant = lo is not None and hi is not None and (lo > 0 or hi < 0)
        improved = None if change is None or lo is None else (significant and ((change > 0) == hib))
        out.append(KpiComparison(k, hib, bv if np.isfinite(bv) else None, pv if np.isfinite(pv) else None,
                                 change, lo, hi, significant, improved))
    return out


def baseline_report(db: Any, *, calendar: ShiftCalendar, kpis: list[str] | None = None,
                    resamples: int = 2000, seed: int = 0,
                    periods: dict[str, tuple[int, int] | None] | None = None) -> BaselineReport:
    """The report for the marked baseline and pilot periods (or ``periods`` given here)."""
    periods = periods or get_periods(db)
    rows: dict[str, list[KpiRow]] = {}
    for kind in ("baseline", "pilot"):
        span = periods.get(kind)
        rows[kind] = (period_rows(db, calendar=calendar, start_ns=span[0], end_ns=span[1], granularity="day")
                      if span else [])
    rep = BaselineReport(periods.get("baseline"), periods.get("pilot"),
                         sum(1 for r in rows["baseline"] if r.pbt_s > 0), sum(1 for r in rows["pilot"] if r.pbt_s > 0),
                         resamples, seed)
    rep.kpis = compare_days(rows["baseline"], rows["pilot"], kpis=kpis, resamples=resamples, seed=seed)
    rep.baseline_total = summarize(rows["baseline"], period="baseline")
    rep.pilot_total = summarize(rows["pilot"], period="pilot")
    return rep


@dataclass
class RoiEstimate:
    label: str
    good_per_hour_baseline: float | None
    good_per_hour_pilot: float | None
    change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    hours_per_year: float
    value_per_hour_eur: float
    investment_eur: float
    extra_good_parts_per_year: float | None
    hours_saved_per_year: float | None
    value_per_year_eur: float | None
    value_per_year_low_eur: float | None
    value_per_year_high_eur: float | None
    payback_years: float | None


def _hours_saved(gph_b: float, change_pct: float, hours: float) -> float:
    """Hours no longer needed for the baseline output at the pilot rate."""
    gph_p = gph_b * (1 + change_pct / 100)
    return hours * (1 - gph_b / gph_p) if gph_p > 0 else 0.0


def roi_estimate(report: BaselineReport, inputs: RoiInputs | None = None, *, db: Any = None) -> RoiEstimate:
    """ESTIMATE: change in good parts per hour x hours per year x value of a machine hour."""
    if inputs is None:
        inputs = get_roi_inputs(db) if db is not None else RoiInputs()
    cmp = next((k for k in report.kpis if k.kpi == "good_per_hour"), None)
    label = ("Schatting, geen garantie: (verandering in goede producten per uur) x productie-uren per jaar x "
             "waarde per machine-uur. / Estimate, not a guarantee.")
    b = cmp.baseline if cmp else None
    p = cmp.pilot if cmp else None
    ch, lo, hi = (cmp.change_pct, cmp.ci_low_pct, cmp.ci_high_pct) if cmp else (None, None, None)
    h, v = inputs.hours_per_year, inputs.value_per_hour_eur
    extra = saved = value = vlo = vhi = payback = None
    if b is not None and p is not None and ch is not None:
        extra = (p - b) * h
        saved = _hours_saved(b, ch, h)
        value = saved * v
        if lo is not None and hi is not None:
            vlo, vhi = _hours_saved(b, lo, h) * v, _hours_saved(b, hi, h) * v
        payback = inputs.investment_eur / value if value and value > 0 else None
    return RoiEstimate(label, b, p, ch, lo, hi, h, v, inputs.investment_eur, extra, saved, value, vlo, vhi, payback)
