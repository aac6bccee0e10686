"""The KPI store as one namespace: the queries and user writes the UI reaches
through ``local_ui.services.kpi_store()`` (a lazy import, so the UI still
starts when the KPI part is left out).

Nothing lives here; each name is defined in the module named for its job:

- ``schema``: the tables (migration set ``werkvloer.kpi``) and column names;
- ``buckets``: the additive minute/hour/shift/day writer and the write transaction;
- ``oee``: the ISO 22400-2 formulas (``KpiRow``, ``summarize``);
- ``queries``: period rows, totals, stops, the Pareto, periods, ROI inputs;
- ``commands``: reasons, splitting a stop, periods, ROI inputs, the product.

Code in the tree imports from those modules directly.
"""

from __future__ import annotations

from .buckets import (
    apply_delta,
    audit_row,
    effective_state,
    minute_meta,
    raw_conn,
    split_minutes,
    write_tx,
)
from .commands import (
    assign_reason,
    clear_reason,
    mark_period,
    set_product,
    set_roi_inputs,
    split_stop,
)
from .oee import KPI_FIELDS, RATIO_KPIS, KpiRow, summarize
from .queries import (
    RoiInputs,
    Stop,
    current_stop,
    downtime_pareto,
    get_periods,
    get_roi_inputs,
    get_stop,
    kpi_total,
    list_stops,
    oee_now,
    period_rows,
    stops_needing_reason,
)
from .schema import COLS, HOUR_NS, STATE_COL, migrations

__all__ = [
    "COLS", "HOUR_NS", "KPI_FIELDS", "RATIO_KPIS", "STATE_COL", "KpiRow", "RoiInputs", "Stop",
    "apply_delta", "assign_reason", "audit_row", "clear_reason", "current_stop", "downtime_pareto",
    "effective_state", "get_periods", "get_roi_inputs", "get_stop", "kpi_total", "list_stops",
    "mark_period", "migrations", "minute_meta", "oee_now", "period_rows", "raw_conn", "set_product",
    "set_roi_inputs", "split_minutes", "split_stop", "stops_needing_reason", "summarize", "write_tx",
]
