"""What the programme reads from the batches: per-firm baseline vs pilot,
roll-ups with small-cell suppression, and the programme's effect.

A firm is one loan (one company's loan of a box). Per firm and day the hub
holds the day row's OEE, A, P and Q.

- Per firm: the change from baseline to pilot in mean log OEE (and log A, P,
  Q); ``exp(change) - 1`` is the relative change.
- Roll-ups per sector x size class: a cell with fewer than ``MIN_CELL`` firms
  is suppressed (shown as "x", as CBS does), so no company can be recognised.
- The effect: a staggered difference-in-differences in the manner of
  Callaway & Sant'Anna (2021): per cohort g (the week a firm's pilot started)
  and week t >= g, ATT(g, t) compares the change from week g-1 to t of the
  cohort with that of the firms whose pilot has not started by t (not yet
  treated, including never). The overall effect is the mean of the ATT(g, t)
  weighted by the cohort's firms in the cell. The interval resamples whole
  firms (bootstrap, percentile 2.5..97.5). Reported on log OEE (relative %)
  and on OEE in points.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_CELL = 10
WEEK_S = 7 * 86_400
DROP_OUT_DAYS = 14


@dataclass
class FirmDay:
    start_ts: int
    phase: str
    oee: float | None
    availability: float | None
    performance: float | None
    quality: float | None


@dataclass
class Firm:
    loan: str
    box: str
    sector: str
    size_class: str
    last_contact: int
    days: list[FirmDay] = field(default_factory=list)

    @property
    def pilot_start(self) -> int | None:
        starts = [d.start_ts for d in self.days if d.phase == "pilot"]
        return min(starts) if starts else None


def load_firms(db: Any) -> list[Firm]:
    with db.tx() as c:
        loans = c.all("SELECT loan, box, sector, size_class, last_contact FROM hub_loans ORDER BY loan")
        rows = c.all("SELECT loan, start_ts, phase, oee, availability, performance, quality FROM hub_periods "
                     "WHERE granularity = 'day' ORDER BY loan, start_ts")
    firms = {r[0]: Firm(r[0], r[1], r[2], r[3], int(r[4])) for r in loans}
    for loan, *rest in rows:
        if loan in firms:
            firms[loan].days.append(FirmDay(int(rest[0]), rest[1], *rest[2:]))
    return list(firms.values())


def _mean_log(values: list[float | None]) -> float | None:
    xs = [math.log(v) for v in values if v is not None and v > 0]
    return sum(xs) / len(xs) if xs else None


def firm_change(f: Firm, now_s: int) -> dict[str, Any]:
    out: dict[str, Any] = {"loan": f.loan, "box": f.box, "sector": f.sector, "size_class": f.size_class}
    for kpi in ("oee", "availability", "performance", "quality"):
        b = _mean_log([getattr(d, kpi) for d in f.days if d.phase == "baseline"])
        p = _mean_log([getattr(d, kpi) for d in f.days if d.phase == "pilot"])
        out[f"{kpi}_baseline"] = math.exp(b) if b is not None else None
        out[f"{kpi}_pilot"] = math.exp(p) if p is not None else None
        out[f"{kpi}_log_change"] = (p - b) if b is not None and p is not None else None
        out[f"{kpi}_change_pct"] = (math.exp(p - b) - 1) * 100 if b is not None and p is not None else None
    out["baseline_days"] = sum(d.phase == "baseline" for d in f.days)
    out["pilot_days"] = sum(d.phase == "pilot" for d in f.days)
    out["drop_out"] = (now_s - f.last_contact // 1_000_000_000) > DROP_OUT_DAYS * 86_400 and not out["pilot_days"]
    return out


def rollups(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per sector x size class: firms, mean baseline and pilot OEE, mean change; cells < MIN_CELL suppressed."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in changes:
        cells[(c["sector"], c["size_class"])].append(c)
    out = []
    for (sector, size), firms in sorted(cells.items()):
        n = len(firms)
        row: dict[str, Any] = {"sector": sector, "size_class": size, "firms": n, "suppressed": n < MIN_CELL}
        for key in ("oee_baseline", "oee_pilot", "oee_change_pct"):
            vals = [f[key] for f in firms if f[key] is not None]
            row[key] = "x" if n < MIN_CELL else (sum(vals) / len(vals) if vals else None)
        if n < MIN_CELL:
            row["firms"] = "x"
        out.append(row)
    return out


def _weekly(firms: list[Firm], level: bool) -> tuple[dict[str, dict[int, float]], dict[str, int | None]]:
    """Per firm: week -> mean log OEE (or mean OEE x 100), and the pilot's first week."""
    t0 = min((d.start_ts for f in firms for d in f.days), default=0)
    series: dict[str, dict[int, float]] = {}
    cohort: dict[str, int | None] = {}
    for f in firms:
        weeks: dict[int, list[float]] = defaultdict(list)
        for d in f.days:
            if d.oee is not None and d.oee > 0:
                weeks[(d.start_ts - t0) // WEEK_S].append(d.oee * 100 if level else math.log(d.oee))
        series[f.loan] = {w: sum(v) / len(v) for w, v in weeks.items()}
        ps = f.pilot_start
        cohort[f.loan] = None if ps is None else (ps - t0) // WEEK_S
    return series, cohort


def _att(series: dict[str, dict[int, float]], cohort: dict[str, int | None], loans: list[str],
         weights: np.ndarray) -> np.ndarray:
    """The overall ATT for each row of ``weights`` (R x firms: how often each firm of ``loans`` is in
    that sample; a firm drawn twice counts twice); NaN where no cohort has both a treated and a control.

    Per cohort g and week t >= g: ATT(g, t) = weighted mean change g-1 -> t of the cohort minus that
    of the not yet treated; the overall effect weighs each ATT(g, t) by the cohort's firms in it.
    One matrix product per cohort for all samples at once (150 firms x a year x 200 resamples:
    about 0.2 s, where a loop over firms took 20 s).
    """
    weeks = sorted({w for loan in loans for w in series[loan]})
    r = weights.shape[0]
    if not weeks:
        return np.full(r, np.nan)
    w0, n_weeks = weeks[0], weeks[-1] - weeks[0] + 1
    y = np.full((len(loans), n_weeks), np.nan)
    for i, loan in enumerate(loans):
        for w, v in series[loan].items():
            y[i, w - w0] = v
    coh = np.array([np.nan if (c := cohort[x]) is None else float(c - w0) for x in loans], dtype=np.float64)
    t_idx = np.arange(n_weeks, dtype=np.float64)
    total, weight = np.zeros(r), np.zeros(r)
    for g in sorted({int(c) for c in coh[~np.isnan(coh)]}):
        if g - 1 < 0 or g >= n_weeks:
            continue
        d = y - y[:, g - 1][:, None]  # change from the week before the cohort's pilot
        ok = ~np.isnan(d) & (t_idx >= g)[None, :]
        treated = (ok & (coh == g)[:, None]).astype(float)
        control = (ok & (np.isnan(coh)[:, None] | (coh[:, None] > t_idx[None, :]))).astype(float)
        dz = np.nan_to_num(d)
        nt, st = weights @ treated, weights @ (dz * treated)
        nc, sc = weights @ control, weights @ (dz * control)
        both = (nt > 0) & (nc > 0)
        n_both = np.where(both, nt, 0)  # the cohort's firms in each (g, t) cell that has a control
        with np.errstate(invalid="ignore", divide="ignore"):
            att = np.where(both, st / np.where(both, nt, 1) - sc / np.where(both, nc, 1), 0.0)
        total += (att * n_both).sum(axis=1)
        weight += n_both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.where(weight > 0, weight, 1), np.nan)


def did_effect(firms: list[Firm], *, resamples: int = 200, seed: int = 2021) -> dict[str, Any]:
    """The programme's effect with a firm-level bootstrap interval."""
    out: dict[str, Any] = {"firms": len(firms), "treated": sum(f.pilot_start is not None for f in firms),
                           "resamples": resamples}
    rng = random.Random(seed)
    loans = [f.loan for f in firms]
    index = {loan: i for i, loan in enumerate(loans)}
    for level in (False, True):
        series, cohort = _weekly(firms, level)
        point = _att(series, cohort, loans, np.ones((1, len(loans))))[0]
        est = None if np.isnan(point) else float(point)
        # The resampled firms: a row counts each firm's copies in that sample.
        counts = np.zeros((resamples if est is not None else 0, len(loans)))
        for k in range(counts.shape[0]):
            for _ in loans:
                counts[k, index[rng.choice(loans)]] += 1
        draws = sorted(float(v) for v in _att(series, cohort, loans, counts) if not np.isnan(v)) if len(counts) else []
        lo = draws[int(0.025 * (len(draws) - 1))] if draws else None
        hi = draws[int(0.975 * (len(draws) - 1))] if draws else None
        if level:
            out.update(points=est, points_low=lo, points_high=hi)
        else:
            out.update(log_att=est, relative_pct=_pct(est), relative_pct_low=_pct(lo), relative_pct_high=_pct(hi))
    return out


def _pct(log_change: float | None) -> float | None:
    return None if log_change is None else (math.exp(log_change) - 1) * 100
