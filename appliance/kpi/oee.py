"""ISO 22400-2 KPIs of one period: time elements and counts in, ratios out (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class KpiRow:
    """One period. Ratios are fractions (0..1); None when undefined (e.g. no planned time)."""

    period: str
    start_ts: int
    end_ts: int
    # ISO 22400-2 time elements (s), planned minutes only
    pot_s: float = 0.0  # planned operation time
    pdot_s: float = 0.0  # planned downtime (planned reasons / planned_down code)
    nodata_s: float = 0.0  # no-data time (excluded from PBT, shown here)
    pbt_s: float = 0.0  # planned busy time = POT - PDOT - no-data
    apt_s: float = 0.0  # actual production time (state running)
    setup_s: float = 0.0
    down_s: float = 0.0  # unplanned down
    idle_s: float = 0.0
    micro_n: int = 0
    micro_s: float = 0.0
    pq: float = 0.0  # produced quantity
    gq: float = 0.0  # good quantity
    sq: float = 0.0  # scrap quantity
    ideal_s: float = 0.0  # sum of PRI over produced parts
    energy_kwh: float = 0.0
    failures: int = 0  # unplanned stops >= micro_stop_s starting in the period
    failure_down_s: float = 0.0
    outside_shift_run_s: float = 0.0
    outside_shift_pq: float = 0.0
    outside_shift_energy_kwh: float = 0.0
    availability: float | None = None
    performance: float | None = None
    quality: float | None = None
    oee: float | None = None
    scrap_rate: float | None = None
    mtbf_s: float | None = None
    mttr_s: float | None = None
    energy_per_good_kwh: float | None = None
    parts_per_hour: float | None = None
    good_per_hour: float | None = None
    no_data_share: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def derive(self) -> KpiRow:
        """Fill the ratios from the time elements and counts (ISO 22400-2; see the README)."""
        pbt = self.pot_s - self.pdot_s - self.nodata_s
        self.pbt_s = pbt = pbt if pbt > 0 else 0.0
        apt, pq, gq = self.apt_s, self.pq, self.gq
        a = apt / pbt if pbt > 1e-9 else None
        p = self.ideal_s / apt if apt > 1e-9 else None
        q = gq / pq if pq > 1e-9 else None
        self.availability, self.performance, self.quality = a, p, q
        if a is not None and p is not None and q is not None:
            self.oee = a * p * q
        elif pbt > 0 and apt == 0:
            self.oee = 0.0  # planned, but nothing ran
        self.scrap_rate = self.sq / pq if pq > 1e-9 else None
        n = self.failures
        self.mtbf_s = apt / n if n and apt > 0 else None
        self.mttr_s = self.failure_down_s / n if n else None
        self.energy_per_good_kwh = self.energy_kwh / gq if gq > 1e-9 else None
        self.parts_per_hour = pq * 3600 / pbt if pbt > 1e-9 else None
        self.good_per_hour = gq * 3600 / pbt if pbt > 1e-9 else None
        self.no_data_share = self.nodata_s / self.pot_s if self.pot_s > 1e-9 else None
        return self

    def as_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in KPI_FIELDS}
        d.update(self.extra)
        return d


KPI_FIELDS: list[str] = [f.name for f in fields(KpiRow) if f.name != "extra"]
RATIO_KPIS = ("availability", "performance", "quality", "oee", "scrap_rate", "no_data_share")


def summarize(rows: list[KpiRow], *, period: str = "total") -> KpiRow:
    """Sum of rows (ratios of sums, not means of ratios)."""
    if not rows:
        return KpiRow(period, 0, 0).derive()
    tot = KpiRow(period, min(r.start_ts for r in rows), max(r.end_ts for r in rows))
    for r in rows:
        for name in ("pot_s", "pdot_s", "nodata_s", "apt_s", "setup_s", "down_s", "idle_s", "micro_n", "micro_s",
                     "pq", "gq", "sq", "ideal_s", "energy_kwh", "failures", "failure_down_s",
                     "outside_shift_run_s", "outside_shift_pq", "outside_shift_energy_kwh"):
            setattr(tot, name, getattr(tot, name) + getattr(r, name))
    return tot.derive()
