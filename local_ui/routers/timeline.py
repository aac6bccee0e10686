"""Shift timeline (a Gantt bar per shift; tap a stop to give or correct its reason) and the
print-friendly shift report for the start meeting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from .. import fmt, services, timeline_view
from ..access import api_guard, page_guard
from ..context import Req, ReqDep

router = APIRouter()


def _day(r: Req, day: str | None) -> dt.date:
    if not day:
        return timeline_view.current_day(r.state.config)
    try:
        return dt.date.fromisoformat(day)
    except ValueError as exc:
        raise HTTPException(422, r._("Give the day as YYYY-MM-DD.")) from exc


def _decorate(r: Req, shift: dict[str, Any]) -> dict[str, Any]:
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    day = f.time(shift["start_utc_ns"], date=True).split(" ")[0]
    shift["title"] = f'{timeline_view.shift_name(r._, shift["name"])} {day}'
    shift["start"], shift["end"] = f.time(shift["start_utc_ns"]), f.time(shift["end_utc_ns"])
    shift["hours"] = "" if shift["name"] == "24h" else f' ({shift["start"]}–{shift["end"]})'
    shift["bar"] = timeline_view.bar_svg(shift, f, r._)
    shift["legend"] = timeline_view.legend(r.state.config, shift["segments"], r._, r.lang)
    if "stops" not in shift:  # a day's shift: its stops from the bar; a shift report has its own (with comments)
        shift["stops"] = [s | {"start": f.time(s["start_utc_ns"]), "end": f.time(s["end_utc_ns"]),
                               "duration": f.duration(s["duration_s"])} for s in shift["segments"] if s["tappable"]]
    return shift


@router.get("/timeline", include_in_schema=False)
def timeline_page(day: str | None = None, r: Req = ReqDep) -> Response:
    page_guard(r, "stops")
    d = _day(r, day)
    try:
        shifts = [_decorate(r, s) for s in timeline_view.shifts_of_day(r.db, r.state.config, d, r.lang)]
        error = None
    except services.NotAvailable as exc:
        shifts, error = [], str(exc)
    return r.render("timeline.html", shifts=shifts, error=error, day=d.isoformat(), day_label=d.strftime("%d-%m-%Y"),
                    prev_day=(d - dt.timedelta(days=1)).isoformat(), next_day=(d + dt.timedelta(days=1)).isoformat(),
                    swatch=timeline_view.swatch)


def _report(r: Req, shift: str) -> tuple[dict[str, Any], fmt.Formatter]:
    """The shift report decorated for the page and the PDF (404 for a shift that is not configured)."""
    try:
        rep = timeline_view.report(r.db, r.state.config, shift, r.lang)
    except ValueError as exc:
        raise HTTPException(404, r._("No such shift.")) from exc
    _decorate(r, rep)
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    for s in rep["stops"]:
        s.update(start=f.time(s["start_utc_ns"]), end=f.time(s["end_utc_ns"]) if s["end_utc_ns"] else None,
                 duration=f.duration(s["duration_s"]))
    return rep, f


@router.get("/timeline/report", include_in_schema=False)
def report_page(shift: str, r: Req = ReqDep) -> Response:
    page_guard(r, "stops")
    try:
        rep, f = _report(r, shift)
    except services.NotAvailable as exc:
        return r.render("shift_report.html", rep=None, error=str(exc), f=None)
    return r.render("shift_report.html", rep=rep, error=None, f=f, swatch=timeline_view.swatch)


@router.get("/timeline/report.pdf", include_in_schema=False)
def report_pdf(shift: str = Query(..., max_length=80), r: Req = ReqDep) -> Response:
    """The shift report as an A4 PDF, made on the box (for a team leader without a printer at hand)."""
    page_guard(r, "stops")
    try:
        rep, f = _report(r, shift)
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc
    from ..report_pdf import shift_report_pdf

    body = shift_report_pdf(rep, box_name=r.state.config.box.name, f=f, gettext=r._)
    name = f'dienstrapport-{rep["key"].replace("/", "-")}.pdf' if r.lang == "nl" else \
        f'shift-report-{rep["key"].replace("/", "-")}.pdf'
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/v1/timeline", tags=["stops"])
def api_timeline(day: str | None = Query(None, max_length=10, description="Local date YYYY-MM-DD (default: today's shifts)"),
                 r: Req = ReqDep) -> dict[str, Any]:
    """The day's shifts, each with segments (run / stop / micro / planned / no_data) covering it from its
    start to now or its end, with stop id, reason and colour."""
    api_guard(r, "stops")
    d = _day(r, day)
    try:
        return {"day": d.isoformat(), "shifts": timeline_view.shifts_of_day(r.db, r.state.config, d, r.lang)}
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


@router.get("/api/v1/timeline/report", tags=["stops"])
def api_report(shift: str = Query(..., max_length=80, description="Shift key YYYY-MM-DD/name"),
               r: Req = ReqDep) -> dict[str, Any]:
    """The shift report: OEE, availability, performance, quality, counts, stops with reasons and durations."""
    api_guard(r, "stops")
    try:
        return timeline_view.report(r.db, r.state.config, shift, r.lang)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from exc
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc
