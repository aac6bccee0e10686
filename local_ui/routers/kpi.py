"""KPIs for the coordinator: trends per hour/shift/day, downtime Pareto,
baseline vs pilot with uncertainty and the ROI estimate, exports."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.kpi import commands as kpi_commands
from appliance.kpi import queries as kpi_queries

from .. import charts, fmt, services
from ..access import api_guard, page_guard
from ..context import Req, ReqDep

router = APIRouter()

NS = 1_000_000_000
Granularity = Literal["hour", "shift", "day"]
SPAN_S = {"hour": 24 * 3600, "shift": 14 * 86400, "day": 30 * 86400}
EXPORT_FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "csv-nl": ("text/csv; charset=utf-8", "csv"),
                  "json": ("application/json", "json")}


# A local day, YYYY-MM-DD (documented, so ``start=null`` is a 422, not a 500: issue 16).
# Years 1970-2199: the box stores UTC nanoseconds in SQLite's 64-bit integers.
# Empty means the default span (the KPI page's export links send start=&end=).
Day = Annotated[str | None, Query(pattern=r"^((19[7-9]\d|2[01]\d\d)-\d{2}-\d{2})?$",
                                  description="local day, YYYY-MM-DD (1970-2199); empty = the default span")]
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 2), dt.date(2199, 12, 31)


def _range(granularity: str, start: str | None, end: str | None, tz: Any) -> tuple[int, int]:
    """start/end as local dates (YYYY-MM-DD, end inclusive) or the default span up to now."""
    now = time.time_ns()
    if start:
        try:
            s = int(dt.datetime.combine(dt.date.fromisoformat(start), dt.time(0), tz).timestamp() * NS)
            e = (int(dt.datetime.combine(dt.date.fromisoformat(end) + dt.timedelta(days=1), dt.time(0), tz)
                     .timestamp() * NS) if end else now)
        except (ValueError, OverflowError) as exc:  # 2026-02-30, 9999-12-31 + 1 day
            raise HTTPException(422, f"give dates as YYYY-MM-DD, real days ({exc})") from exc
        return s, e
    return now - SPAN_S.get(granularity, 86400) * NS, now


def rows(r: Req, granularity: str, start_ns: int, end_ns: int) -> list[Any]:
    if not services._has_kpi_tables(r.db):
        return []
    try:
        return kpi_queries.period_rows(r.db, calendar=services.calendar(r.state.config), start_ns=start_ns,
                                 end_ns=end_ns, granularity=granularity)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _label(row: Any, granularity: str) -> str:
    p = str(row.period)
    if granularity == "hour":
        return p[11:16]
    if granularity == "day":
        return p[5:10]
    return p.split("/")[0][5:10] + " " + (p.split("/")[1] if "/" in p else "")


@router.get("/kpis", include_in_schema=False)
def kpis_page(granularity: str = "hour", start: str | None = None, end: str | None = None,
              r: Req = ReqDep) -> Response:
    page_guard(r, "kpi")
    if granularity not in SPAN_S:
        granularity = "hour"
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    ctx: dict[str, Any] = {"granularity": granularity, "start": start or "", "end": end or ""}
    try:
        s_ns, e_ns = _range(granularity, start, end, f.tz)
    except ValueError as exc:
        raise HTTPException(422, r._("Give dates as YYYY-MM-DD.")) from exc
    try:
        data = rows(r, granularity, s_ns, e_ns)
        ctx["error"] = None
    except services.NotAvailable as exc:
        data, ctx["error"] = [], str(exc)
    ctx["rows"] = [{"label": _label(x, granularity), "period": x.period, **x.as_dict()} for x in data]
    pts = [(_label(x, granularity), x.oee) for x in data]
    ctx["oee_chart"] = charts.line(pts, label=r._("OEE per period"), y_max=1.0, y_fmt=lambda v: f"{v * 100:.0f}%",
                                   target=r.state.config.machine.oee_target)
    ctx["pph_chart"] = charts.line([(_label(x, granularity), x.parts_per_hour) for x in data],
                                   label=r._("Parts per hour"), colour=charts.GREEN)
    # Pareto over the same range.
    try:
        bars = kpi_queries.downtime_pareto(r.db, tree=services.reason_tree(r.state.config),
                                                    start_ns=s_ns, end_ns=e_ns, lang=r.lang) \
            if services._has_kpi_tables(r.db) else []
    except services.NotAvailable:
        bars = []
    for b in bars:  # the KPI layer's own word for micro-stops; the screen uses the catalogue's
        if b.get("reason") == "micro_stop":
            b["label"] = r._("Micro-stops")
    ctx["pareto"] = bars
    ctx["pareto_chart"] = charts.pareto([(b["label"], b["seconds"] / 60) for b in bars],
                                        label=r._("Downtime per reason (minutes)"), v_fmt=lambda v: f"{v:.0f} min")
    ctx["compare"] = baseline_view(r)
    ctx["can_edit"] = r.may("kpi.edit")
    ctx["oee_trend"] = oee_trend(r, f.tz)
    return r.render("kpis.html", **ctx)


# OEE against target (uPlot in the browser, static/trends.js): per day over four weeks, per shift over two.
OEE_TREND_DAYS = {"day": 28, "shift": 14}


def oee_trend(r: Req, tz: Any) -> dict[str, Any]:
    """What the two OEE charts fetch (``/api/v1/kpi/periods``) and draw: the target and the series names."""
    today = dt.datetime.now(tz).date()
    charts_ = {}
    for g, n in OEE_TREND_DAYS.items():
        first = today - dt.timedelta(days=n - 1)
        charts_[g] = {"src": f"/api/v1/kpi/periods?granularity={g}&start={first.isoformat()}", "days": n,
                      "from_s": int(dt.datetime.combine(first, dt.time(0), tz).timestamp())}
    names = {"period": r._("Period"), "oee": r._("OEE"), "availability": r._("Availability"),
             "performance": r._("Performance"), "quality": r._("Quality"), "target": r._("Target")}
    return {"target": r.state.config.machine.oee_target, "charts": charts_, "names": names}


def baseline_view(r: Req) -> dict[str, Any]:
    """Baseline vs pilot report from appliance.kpi (when it provides one), periods and ROI inputs."""
    out: dict[str, Any] = {"periods": None, "roi_inputs": None, "report": None, "error": None}
    try:
        if not services._has_kpi_tables(r.db):
            raise services.NotAvailable("KPIs", "no KPI data yet")
        periods = kpi_queries.get_periods(r.db)
        tz = fmt.Formatter(r.lang, r.state.config.box.timezone).tz

        def day(ns: int, *, end: bool = False) -> str:
            return (dt.datetime.fromtimestamp(ns / NS - (1 if end else 0), tz)).date().isoformat()

        out["periods"] = {k: ({"start": day(v[0]), "end": day(v[1], end=True)} if v else None)
                          for k, v in periods.items()}
        out["roi_inputs"] = kpi_queries.get_roi_inputs(r.db)
        report = services.baseline_report(r.db, r.state.config, r.lang)
        if report is not None:
            out["report"] = report
            out["chart"] = charts.interval(
                [(k["label"], k["change_lo_pct"], k["change_pct"], k["change_hi_pct"]) for k in report["kpis"]],
                label=r._("Change pilot vs baseline, with uncertainty"))
    except services.NotAvailable as exc:
        out["error"] = str(exc)
    return out


class PeriodIn(BaseModel):
    kind: Literal["baseline", "pilot"] = Field(..., title="Period kind")
    start: dt.date = Field(..., title="First day (local)", ge=FIRST_DAY, le=LAST_DAY)
    end: dt.date = Field(..., title="Last day (local, inclusive)", ge=FIRST_DAY, le=LAST_DAY)
    note: str | None = Field(None, title="Note", max_length=500)


def _mark(r: Req, body: PeriodIn) -> dict[str, Any]:
    role = r.require("kpi.edit")
    tz = fmt.Formatter(r.lang, r.state.config.box.timezone).tz
    s = int(dt.datetime.combine(body.start, dt.time(0), tz).timestamp() * NS)
    e = int(dt.datetime.combine(body.end + dt.timedelta(days=1), dt.time(0), tz).timestamp() * NS)
    try:
        pid = kpi_commands.mark_period(r.db, kind=body.kind, start_ns=s, end_ns=e, role=role, note=body.note)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"id": pid, "kind": body.kind, "start_ns": s, "end_ns": e}


class RoiIn(BaseModel):
    value_per_hour_eur: float = Field(..., title="Value of one machine hour", description="EUR", ge=0, le=1e6)
    hours_per_year: float = Field(..., title="Planned production hours per year", description="h", ge=0, le=8784)
    investment_eur: float = Field(..., title="Investment", description="EUR", ge=0, le=1e9)


def _roi(r: Req, body: RoiIn) -> dict[str, Any]:
    role = r.require("kpi.edit")
    try:
        v = kpi_commands.set_roi_inputs(r.db, role=role, **body.model_dump())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"value_per_hour_eur": v.value_per_hour_eur, "hours_per_year": v.hours_per_year,
            "investment_eur": v.investment_eur}


@router.post("/kpis/period", include_in_schema=False)
def period_form(kind: Annotated[str, Form()], start: Annotated[str, Form()], end: Annotated[str, Form()],
                r: Req = ReqDep) -> Response:
    page_guard(r, "kpi.edit")
    try:
        body = PeriodIn(kind=kind, start=start, end=end)  # type: ignore[arg-type]
    except ValueError as exc:
        raise HTTPException(422, r._("Give dates as YYYY-MM-DD.")) from exc
    _mark(r, body)
    r.flash(r._("Period saved."))
    return r.redirect("/kpis#compare")


@router.post("/kpis/roi", include_in_schema=False)
def roi_form(value_per_hour_eur: Annotated[float, Form()], hours_per_year: Annotated[float, Form()],
             investment_eur: Annotated[float, Form()], r: Req = ReqDep) -> Response:
    page_guard(r, "kpi.edit")
    _roi(r, RoiIn(value_per_hour_eur=value_per_hour_eur, hours_per_year=hours_per_year, investment_eur=investment_eur))
    r.flash(r._("ROI inputs saved."))
    return r.redirect("/kpis#compare")


# ----- JSON API ------------------------------------------------------------------
@router.get("/api/v1/kpi/periods", tags=["kpi"])
def api_kpi_rows(granularity: Granularity = "hour", start: Day = None, end: Day = None,
                 r: Req = ReqDep) -> list[dict[str, Any]]:
    """KPI rows (OEE, A/P/Q, parts per hour, scrap, MTBF/MTTR, energy per good part, ...)
    per hour, shift or day; start/end as local dates (end inclusive), default the last day/weeks."""
    api_guard(r, "kpi")
    try:
        s, e = _range(granularity, start, end, fmt.Formatter(r.lang, r.state.config.box.timezone).tz)
        return [x.as_dict() for x in rows(r, granularity, s, e)]
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, "give dates as YYYY-MM-DD") from exc


@router.get("/api/v1/kpi/pareto", tags=["kpi"])
def api_pareto(start: Day = None, end: Day = None, r: Req = ReqDep) -> list[dict[str, Any]]:
    """Downtime per reason, largest first, with cumulative share."""
    api_guard(r, "kpi")
    try:
        s, e = _range("shift", start, end, fmt.Formatter(r.lang, r.state.config.box.timezone).tz)
        if not services._has_kpi_tables(r.db):
            return []
        return kpi_queries.downtime_pareto(r.db, tree=services.reason_tree(r.state.config),  # type: ignore[no-any-return]
                                                    start_ns=s, end_ns=e, lang=r.lang)
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


@router.get("/api/v1/kpi/compare", tags=["kpi"])
def api_compare(r: Req = ReqDep) -> dict[str, Any]:
    """Baseline vs pilot: periods, ROI inputs and (when available) the report with intervals."""
    api_guard(r, "kpi")
    v = baseline_view(r)
    v.pop("chart", None)
    if v["roi_inputs"] is not None:
        v["roi_inputs"] = vars(v["roi_inputs"])
    return v


@router.post("/api/v1/kpi/periods/mark", tags=["kpi"])
def api_mark(body: PeriodIn, r: Req = ReqDep) -> dict[str, Any]:
    """Mark the baseline or pilot period (coordinator, admin)."""
    api_guard(r, "kpi.edit")
    return _mark(r, body)


@router.post("/api/v1/kpi/roi", tags=["kpi"])
def api_roi(body: RoiIn, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "kpi.edit")
    return _roi(r, body)


@router.get("/api/v1/kpi/export", tags=["kpi"], responses={200: {"content": {
    "text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}}})
def api_export(format: Literal["csv", "csv-nl", "json"] = "csv", granularity: Granularity = "hour",
               start: Day = None, end: Day = None, r: Req = ReqDep) -> Response:
    """KPI export: CSV or JSON with the same numbers as /kpi/periods; csv-nl is for people in Excel (';', decimal comma, column names in words, rounded, empty where not defined)."""
    api_guard(r, "kpi")
    tz = fmt.Formatter(r.lang, r.state.config.box.timezone).tz
    try:
        s, e = _range(granularity, start, end, tz)
        text = services.export_text(r.db, r.state.config, start_ns=s, end_ns=e, granularity=granularity, fmt=format, lang=r.lang)
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, "give dates as YYYY-MM-DD") from exc
    media, ext = EXPORT_FORMATS[format]
    name = f"werkvloer-kpi-{granularity}{'-nl' if format == 'csv-nl' else ''}.{ext}"
    r.audit("kpi.export", granularity, format)
    return Response(text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
