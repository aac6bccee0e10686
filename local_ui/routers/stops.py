"""Stops that need a reason: one tap per reason from the tree; split a stop."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.kpi import commands as kpi_commands
from appliance.kpi import queries as kpi_queries

from .. import fmt, live_view, services
from ..access import api_guard, found, page_guard
from ..api_errors import DbId
from ..context import Req, ReqDep

router = APIRouter()


def _tree(r: Req) -> Any:
    try:
        return services.reason_tree(r.state.config)
    except services.NotAvailable as exc:
        raise HTTPException(503, r._("Stops are not available yet.")) from exc


def tree_view(r: Req) -> list[dict[str, Any]]:
    out = []
    for g in _tree(r).as_dicts():
        kids = [{"code": c["code"], "label": c[r.lang], "planned": c["planned"]} for c in g["children"]]
        if not kids:
            kids = [{"code": g["code"], "label": g[r.lang], "planned": g["planned"]}]
        out.append({"code": g["code"], "label": g[r.lang], "planned": g["planned"], "reasons": kids})
    return out


def _decorate(r: Req, stops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    for s in stops:
        s["start"] = f.time(s["start_utc_ns"], date=True)
        s["end"] = f.time(s["end_utc_ns"]) if s["end_utc_ns"] else None
        s["duration"] = f.duration(s["duration_s"])
    return stops


NEEDS_COMMENT = ("other.other",)  # "Other (see comment)": without a comment nobody knows what happened
TRIP_BEFORE_NS, TRIP_AFTER_NS = 10_000_000_000, 2_000_000_000  # a guard trip this close to a stop's start caused it


def _assign(r: Req, stop_id: int, reason: str, comment: str | None) -> dict[str, Any]:
    role = r.role or "operator"
    if reason in NEEDS_COMMENT and not (comment or "").strip():
        raise HTTPException(422, r._("Write in the comment what happened, then tap “Other (see comment)” again."))
    try:
        stop = kpi_commands.assign_reason(r.db, stop_id=stop_id, reason=reason, role=role,
                                   calendar=services.calendar(r.state.config), tree=_tree(r), comment=comment)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return services.stop_view(stop, r.lang)


def _split(r: Req, stop_id: int, at_ns: int) -> list[dict[str, Any]]:
    try:
        a, b = kpi_commands.split_stop(r.db, stop_id=stop_id, at_ns=at_ns, role=r.role or "operator")
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [services.stop_view(a, r.lang), services.stop_view(b, r.lang)]


@router.get("/stops", include_in_schema=False)
def stops_page(r: Req = ReqDep) -> Response:
    page_guard(r, "stops")
    try:
        stops = _decorate(r, services.stops_needing_reason(r.db, r.state.config, r.lang))
        current = services.current_stop(r.db, r.state.config, r.lang)
        error = None
    except services.NotAvailable as exc:
        stops, current, error = [], None, str(exc)
    if current:
        _decorate(r, [current])
    return r.render("stops.html", stops=stops, current=current, error=error,
                    tree=tree_view(r) if not error else [])


def guard_trip_for(r: Req, stop: dict[str, Any]) -> dict[str, Any] | None:
    """The armed guard trip that stopped the machine for this stop (if any), in plain words."""
    db = r.db
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'guard_trips'").fetchone() is None:
        return None
    start = stop["start_utc_ns"]
    # Not a trip whose own stop ended before this one began: the machine ran in between (reset), so
    # this stop has another cause, even when it began within TRIP_BEFORE_NS of the trip.
    row = db.execute("SELECT id, ts, cause_kind, cause, signal, score, threshold FROM guard_trips t "
                     "WHERE mode = 'armed' AND ts BETWEEN ? AND ? AND NOT EXISTS (SELECT 1 FROM kpi_stops p "
                     "WHERE p.end_ts > t.ts AND p.end_ts <= ?) ORDER BY abs(ts - ?) LIMIT 1",
                     [start - TRIP_BEFORE_NS, start + TRIP_AFTER_NS, start, start]).fetchone()
    if row is None:
        return None
    tid, ts, kind, cause, signal, score, threshold = row
    status = {"tripped": True, "cause": {"kind": kind, "name": cause, "ts": ts, "signal": signal}, "rules": [],
              "models": [{"name": cause, "last_score": score, "threshold": threshold}]}
    view = live_view.cause_view(status, {signal: {"v": score}} if signal else {}, r.state.config, r.lang) or {}
    alert = None
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alerts'").fetchone() is not None:
        alert = db.execute("SELECT id FROM alerts WHERE dedupe_key = ? AND first_ts <= ? + 5000000000 "
                           "AND last_ts >= ? - 5000000000 ORDER BY last_ts DESC LIMIT 1",
                           [f"guard.trip.{cause}", ts, ts]).fetchone()
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    return {"id": tid, "utc_ns": ts, "time": f.time(ts), "text": view.get("text"), "alert_id": alert[0] if alert else None}


def back_to(next_url: str | None) -> str:
    """Where a reason form returns: the shift timeline it came from, else the Stops list (no open redirect)."""
    if next_url and next_url.startswith("/timeline") and "//" not in next_url and "\\" not in next_url:
        return next_url
    return "/stops"


@router.get("/stops/{stop_id}", include_in_schema=False)
def stop_page(stop_id: DbId, next: str | None = None, r: Req = ReqDep) -> Response:  # noqa: A002 - the query name
    page_guard(r, "stops")
    stop = found(lambda: services.stop_view(kpi_queries.get_stop(r.db, stop_id, tree=_tree(r)), r.lang),
                 r._("No such stop."), missing=ValueError)
    _decorate(r, [stop])
    tz = fmt.Formatter(r.lang, r.state.config.box.timezone).tz
    mid = None
    if stop["end_utc_ns"]:
        mid = dt.datetime.fromtimestamp((stop["start_utc_ns"] + stop["end_utc_ns"]) / 2e9, tz).strftime("%H:%M:%S")
    back = back_to(next)
    return r.render("stop.html", stop=stop, tree=tree_view(r), split_default=mid, trip=guard_trip_for(r, stop),
                    back=back if back != "/stops" else None)


@router.post("/stops/{stop_id}/reason", include_in_schema=False)
def stop_reason_form(stop_id: DbId, reason: Annotated[str, Form()], comment: Annotated[str, Form()] = "",
                     next: Annotated[str, Form(max_length=200)] = "", r: Req = ReqDep) -> Response:  # noqa: A002
    page_guard(r, "stops")
    before = found(lambda: kpi_queries.get_stop(r.db, stop_id), r._("No such stop."), missing=ValueError).reason
    try:
        s = _assign(r, stop_id, reason, comment or None)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        back = back_to(next)
        return r.redirect(f"/stops/{stop_id}" + (f"?next={quote(back, safe='')}" if back != "/stops" else ""))
    live_view.invalidate_counts()
    r.request.session["undo"] = {"stop": stop_id, "reason": before, "back": back_to(next)}
    r.flash(r._("Reason saved: %(reason)s") % {"reason": s["reason_label"]}, undo=f"/stops/{stop_id}/undo")
    return r.redirect(back_to(next))


@router.post("/stops/{stop_id}/undo", include_in_schema=False)
def stop_undo_form(stop_id: int, r: Req = ReqDep) -> Response:
    """Undo the last reason tapped in this session: the stop gets its previous reason (or none) back."""
    page_guard(r, "stops")
    undo = r.request.session.pop("undo", None)
    if not undo or undo.get("stop") != stop_id:
        r.flash(r._("Nothing to undo."), "bad")
        return r.redirect("/stops")
    try:
        if undo.get("reason"):
            _assign(r, stop_id, undo["reason"], None)
        else:
            kpi_commands.clear_reason(r.db, stop_id=stop_id, role=r.role or "operator",
                               calendar=services.calendar(r.state.config), tree=_tree(r))
    except (ValueError, HTTPException) as exc:
        r.flash(str(getattr(exc, "detail", exc)), "bad")
        return r.redirect("/stops")
    live_view.invalidate_counts()
    r.flash(r._("Undone: the stop has its previous reason again.") if undo.get("reason")
            else r._("Undone: the stop needs a reason again."))
    return r.redirect(back_to(undo.get("back")))


@router.post("/stops/{stop_id}/split", include_in_schema=False)
def stop_split_form(stop_id: DbId, at: Annotated[str, Form()], r: Req = ReqDep) -> Response:
    page_guard(r, "stops")
    stop = found(lambda: kpi_queries.get_stop(r.db, stop_id), r._("No such stop."), missing=ValueError)
    tz = fmt.Formatter(r.lang, r.state.config.box.timezone).tz
    try:
        t = dt.time.fromisoformat(at.strip())
    except ValueError:
        r.flash(r._("Give the split time as HH:MM or HH:MM:SS (24 hours)."), "bad")
        return r.redirect(f"/stops/{stop_id}")
    start_local = dt.datetime.fromtimestamp(stop.start_ts / 1e9, tz)
    at_dt = dt.datetime.combine(start_local.date(), t, tzinfo=tz)
    if at_dt < start_local:
        at_dt += dt.timedelta(days=1)  # a stop across midnight
    try:
        _split(r, stop_id, int(at_dt.timestamp()) * 1_000_000_000 + at_dt.microsecond * 1000)
    except HTTPException as exc:
        r.flash(str(exc.detail), "bad")
        return r.redirect(f"/stops/{stop_id}")
    live_view.invalidate_counts()
    r.flash(r._("Stop split in two. Give each part its reason."))
    return r.redirect("/stops")


# ----- JSON API ------------------------------------------------------------------
class ReasonIn(BaseModel):
    reason: str = Field(..., title="Reason code from the tree, e.g. breakdown.mechanical", max_length=80)
    comment: str | None = Field(None, title="Comment", max_length=500)


class SplitIn(BaseModel):
    at_utc_ns: int = Field(..., title="Split time, UTC ns (inside the stop)", ge=0, le=2**63 - 1)


@router.get("/api/v1/reasons", tags=["stops"])
def api_reasons(r: Req = ReqDep) -> list[dict[str, Any]]:
    """The downtime reason tree (two levels, Dutch and English labels)."""
    api_guard(r, "stops")
    return _tree(r).as_dicts()  # type: ignore[no-any-return]


@router.get("/api/v1/stops", tags=["stops"])
def api_stops(needs_reason: bool = True, r: Req = ReqDep) -> list[dict[str, Any]]:
    """Stops needing a reason (unplanned, longer than the micro-stop limit, newest first)."""
    api_guard(r, "stops")
    try:
        return services.stops_needing_reason(r.db, r.state.config, r.lang)  # type: ignore[no-any-return]
    except services.NotAvailable as exc:
        raise HTTPException(503, str(exc)) from exc


@router.post("/api/v1/stops/{stop_id}/reason", tags=["stops"])
def api_stop_reason(stop_id: DbId, body: ReasonIn, r: Req = ReqDep) -> dict[str, Any]:
    """Assign a downtime reason to a stop (operator and up; audited)."""
    api_guard(r, "stops")
    return _assign(r, stop_id, body.reason, body.comment)


@router.post("/api/v1/stops/{stop_id}/split", tags=["stops"])
def api_stop_split(stop_id: DbId, body: SplitIn, r: Req = ReqDep) -> list[dict[str, Any]]:
    """Split a finished stop in two at a time inside it."""
    api_guard(r, "stops")
    return _split(r, stop_id, body.at_utc_ns)
