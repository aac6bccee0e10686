"""Alerts for maintenance: list with filters, detail with the signal window and
snapshot, acknowledge, label true/false/unsure with a comment, close;
per-model false-alarm share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from .. import audit_view, charts, fmt, labels, services, trends_view
from ..access import api_guard, found, page_guard
from ..api_errors import DbId
from ..context import Req, ReqDep
from ..i18n import N_

router = APIRouter()

STATES = ("open", "raised", "acknowledged", "labelled", "closed", "all")
SEVERITIES = ("critical", "warning", "info")


def _store(r: Req) -> Any:
    try:
        return services.alert_store(r.db)
    except services.NotAvailable as exc:
        raise HTTPException(503, r._("Alerts are not available yet.")) from exc


def alert_dict(a: Any, lang: str, *, full: bool = False, config: Any = None) -> dict[str, Any]:
    """An alert for a page or the API: ``title`` and ``detail`` in ``lang`` (a guard rule's detail in
    words when ``config`` is given), ``detail_error`` the raw technical error text kept apart (not
    translated), ``detail_raw`` the detail as stored (``{"nl", "en", ...}`` JSON or old plain text)."""
    from appliance.alerts import detail_in, title_in

    d = {k: getattr(a, k) for k in ("id", "source", "kind", "severity", "state", "first_ts",
                                    "last_ts", "count", "flapping", "ack_ts", "ack_role", "label", "label_role",
                                    "comment", "closed_ts")}
    d["title"] = title_in(a.title, lang)
    d["title_stored"] = not a.title.startswith("{")  # a plain title (a tool's, an old row): shown as stored
    if config is not None:
        why = audit_view.alert_detail(a.detail, config, lang)
    else:
        got = detail_in(a.detail, lang)
        why = {"text": got.text, "error": got.error, "stored": got.plain}
    d.update(detail=why["text"] or None, detail_error=why["error"], detail_raw=a.detail)
    if config is not None:
        d["why"] = why  # for the pages: text, error, stored (an old plain row shown as stored)
    if full:
        d["events"] = a.events
        d["evidence"] = []
        for ev in a.evidence:
            e = {k: v for k, v in ev.items() if k != "values"}
            vals = ev.get("values")
            if vals is not None:
                e["values"] = vals.tolist() if hasattr(vals, "tolist") else vals
            d["evidence"].append(e)
    return d


def _rule_of(config: Any, a: Any) -> Any:
    """The guard rule a rule-trip alert is about (``guard.trip.<rule>`` / ``guard.shadow.<rule>``), or None."""
    key = a.dedupe_key or ""
    if a.kind != "guard.trip" or key.count(".") < 2:
        return None
    name = key.split(".", 2)[2]
    return next((x for x in config.guard.rules if x.name == name), None)


def trip_trace(r: Req, a: Any, *, w: int = 640, h: int = 200) -> dict[str, Any] | None:
    """A rule trip keeps no window: its picture is the rule's signal around the trip from the recorder's
    stored samples, the limit as a dashed red line, the trip as a grey line. None when the alert is not a
    rule trip; ``svg`` None and ``empty`` a sentence when too few values were stored around it."""
    config, lang = r.state.config, r.lang
    rule = _rule_of(config, a)
    if rule is None or any(ev.get("kind") == "window" for ev in getattr(a, "evidence", None) or []):
        return None
    f = fmt.Formatter(lang, config.box.timezone)
    unit = labels.signal_unit(config, rule.signal)
    sig = labels.signal_label(config, rule.signal, lang)
    mark = int(a.first_ts)
    before, after = trends_view.TRIP_BEFORE_S, trends_view.TRIP_AFTER_S
    ts, vs = trends_view.around(r.db, rule.signal, mark)
    limit = rule.limit if rule.kind in ("above", "below") else None
    caption = r._(N_("%(signal)s from %(before)s s before to %(after)s s after the alert: the grey line is the "
                     "moment of the alert, dashed red the limit.") if limit is not None else
                  N_("%(signal)s from %(before)s s before to %(after)s s after the alert: the grey line is the "
                     "moment of the alert.")) % {
        "signal": sig, "before": before, "after": after}
    out: dict[str, Any] = {"signal": rule.signal, "signal_label": sig, "caption": caption, "points": len(ts),
                           "limit": limit, "svg": None, "empty": None}
    if len(ts) < 2:
        out["empty"] = r._(N_("No stored values of %(signal)s around the alert.")) % {"signal": sig}
        return out
    out["svg"] = charts.trace(ts, vs, t0_ns=mark - before * 1_000_000_000, t1_ns=mark + after * 1_000_000_000,
                              mark_ns=mark, label=caption, limit=limit,
                              limit_text=labels.value_text(limit, unit, f) if limit is not None else "",
                              y_fmt=lambda v: labels.value_text(v, unit, f), x_ticks_s=(-before, -before // 2, 0, after),
                              w=w, h=h)
    return out


def _list(r: Req, state: str, source: str | None, severity: str | None) -> list[Any]:
    store = _store(r)
    kw: dict[str, Any] = {"limit": 200}
    if state == "open":
        kw["open_only"] = True
    elif state in STATES and state != "all":
        kw["state"] = state
    if source:
        kw["source"] = source
    items = store.list(**kw)
    if severity:
        items = [a for a in items if a.severity == severity]
    return items  # type: ignore[no-any-return]


def _stats(r: Req) -> list[dict[str, Any]]:
    return _store(r).model_stats()  # type: ignore[no-any-return]


@router.get("/alerts", include_in_schema=False)
def alerts_page(state: str = "open", source: str | None = None, severity: str | None = None,
                r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    try:
        items = _list(r, state, source or None, severity or None)
        stats = _stats(r)
        sources = sorted({s["source"] for s in stats})
        error = None
    except HTTPException:
        items, stats, sources, error = [], [], [], r._("Alerts are not available yet.")
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    rows = [{**alert_dict(a, r.lang, config=r.state.config), "when": f.time(a.last_ts, date=True)} for a in items]
    return r.render("alerts.html", alerts=rows, stats=stats, sources=sources, states=STATES, severities=SEVERITIES,
                    chosen={"state": state, "source": source or "", "severity": severity or ""}, error=error)


@router.get("/alerts/{alert_id}", include_in_schema=False)
def alert_page(alert_id: DbId, r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    store = _store(r)
    a = found(lambda: store.get(alert_id), r._("No such alert."), missing=ValueError)
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    windows, snapshots, values = [], [], []
    for i, ev in enumerate(a.evidence):
        if ev["kind"] == "window" and ev.get("values") is not None:
            vals = [float(x) for x in ev["values"]]
            windows.append({"name": ev.get("name") or "signal",
                            "svg": charts.signal(vals, label=f"{ev.get('name')}: {len(vals)} samples",
                                                 rate_hz=ev.get("rate_hz"))})
        elif ev["kind"] == "snapshot" and ev.get("path"):
            snapshots.append(f"/alerts/{alert_id}/evidence/{i}")
        elif ev["kind"] == "values" and isinstance(ev.get("values"), dict):
            values += [audit_view.evidence_value(k, v, r.state.config, r.lang) for k, v in ev["values"].items()]
    tz = r.state.config.box.timezone
    events = [{"when": f.time(e["ts"], date=True), "role": audit_view.role_text(e["role"], r.lang),
               "action": audit_view.action_text(e["action"], r.lang),
               "detail": audit_view.detail_text(e.get("detail"), r.lang, tz)} for e in a.events]
    shown = alert_dict(a, r.lang, config=r.state.config)
    return r.render("alert.html", a=shown, first=f.time(a.first_ts, date=True),
                    last=f.time(a.last_ts, date=True), windows=windows, snapshots=snapshots, values=values,
                    events=events, trace=trip_trace(r, a))


@router.get("/alerts/{alert_id}/evidence/{index}", include_in_schema=False)
def alert_snapshot(alert_id: DbId, index: int, r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    a = _store(r).get(alert_id)
    if not 0 <= index < len(a.evidence) or a.evidence[index]["kind"] != "snapshot":
        raise HTTPException(404, r._("No such snapshot."))
    path = Path(a.evidence[index]["path"]).resolve()
    data_dir = Path(r.state.config.box.data_dir).resolve()
    # Only files the box wrote under its data directory (never an arbitrary path).
    if not path.is_file() or data_dir not in path.parents:
        raise HTTPException(404, r._("The snapshot file is gone."))
    return FileResponse(path)


def _act(r: Req, alert_id: int, action: str, label: str | None = None, comment: str | None = None) -> Any:
    role = r.require("alerts")
    store = _store(r)
    try:
        if action == "ack":
            return store.acknowledge(alert_id, role=role)
        if action == "label":
            return store.label(alert_id, label or "", role=role, comment=comment or None)
        if action == "close":
            return store.close(alert_id, role=role)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    raise HTTPException(404, "unknown action")


@router.post("/alerts/{alert_id}/ack", include_in_schema=False)
def alert_ack_form(alert_id: DbId, r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    _act(r, alert_id, "ack")
    r.flash(r._("Alert acknowledged."))
    return r.redirect(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/label", include_in_schema=False)
def alert_label_form(alert_id: DbId, label: Annotated[str, Form()], comment: Annotated[str, Form()] = "",
                     r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    _act(r, alert_id, "label", label, comment)
    r.flash(r._("Label saved."))
    return r.redirect(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/close", include_in_schema=False)
def alert_close_form(alert_id: DbId, r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    _act(r, alert_id, "close")
    r.flash(r._("Alert closed."))
    return r.redirect("/alerts")


# ----- JSON API ------------------------------------------------------------------
class LabelIn(BaseModel):
    label: Literal["true", "false", "unsure"] = Field(..., title="true alarm, false alarm or unsure")
    comment: str | None = Field(None, title="Comment", max_length=1000)


def _api_dict(a: Any, r: Req, *, full: bool = False) -> dict[str, Any]:
    d = alert_dict(a, r.lang, full=full, config=r.state.config)
    del d["why"]
    return d


@router.get("/api/v1/alerts", tags=["alerts"])
def api_alerts(state: str = "open", source: str | None = None, severity: str | None = None,
               r: Req = ReqDep) -> list[dict[str, Any]]:
    """Alerts, newest first; state = open|raised|acknowledged|labelled|closed|all."""
    api_guard(r, "alerts")
    return [_api_dict(a, r) for a in _list(r, state, source, severity)]


@router.get("/api/v1/alerts/stats", tags=["alerts"])
def api_alert_stats(r: Req = ReqDep) -> list[dict[str, Any]]:
    """Per model or rule: alerts per day and false-alarm share from labels."""
    api_guard(r, "alerts")
    return _stats(r)


@router.get("/api/v1/alerts/{alert_id}", tags=["alerts"])
def api_alert(alert_id: DbId, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "alerts")
    return found(lambda: _api_dict(_store(r).get(alert_id), r, full=True), missing=ValueError)


@router.post("/api/v1/alerts/{alert_id}/ack", tags=["alerts"])
def api_alert_ack(alert_id: DbId, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "alerts")
    return _api_dict(_act(r, alert_id, "ack"), r)


@router.post("/api/v1/alerts/{alert_id}/label", tags=["alerts"])
def api_alert_label(alert_id: DbId, body: LabelIn, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "alerts")
    return _api_dict(_act(r, alert_id, "label", body.label, body.comment), r)


@router.post("/api/v1/alerts/{alert_id}/close", tags=["alerts"])
def api_alert_close(alert_id: DbId, r: Req = ReqDep) -> dict[str, Any]:
    api_guard(r, "alerts")
    return _api_dict(_act(r, alert_id, "close"), r)
