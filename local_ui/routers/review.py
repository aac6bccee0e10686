"""The alert review queue (Meldingen beoordelen, ``/alerts/review``): one card per alert with its
evidence (what tripped, the value against its limit or the model's score against its threshold
and its inputs, a small picture of the window the model judged), big "true alarm" / "false alarm"
buttons, filter chips (label, rule or model, day), several cards labelled at once, and undo.

Every label goes through ``AlertStore.label`` (audited per alert, as a single label on the alert's
own page); undo through ``AlertStore.unlabel``. The dataset export reads the same columns."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .. import charts, fmt, labels
from ..access import api_guard, page_guard
from ..context import Req, ReqDep
from ..i18n import N_
from .alerts import _store, alert_dict, trip_trace

router = APIRouter()

LABEL_FILTERS = {"unlabelled": N_("Not yet labelled"), "true": N_("True alarm"), "false": N_("False alarm"),
                 "all": N_("All")}
PAGE_SIZE = 30
SCAN = 500  # newest alerts looked at for the chips and the queue
UNDO_KEY = "review_undo"


def alert_name(a: Any) -> str:
    """The rule or model binding an alert is about (as the false-alarm statistics group them)."""
    key = a.dedupe_key or ""
    if a.kind == "guard.trip" and key.count(".") >= 2:
        return str(key.split(".", 2)[2])
    return str(a.kind)


def _day(utc_ns: int, f: fmt.Formatter) -> str:
    return dt.datetime.fromtimestamp(utc_ns / 1e9, tz=f.tz).date().isoformat()


def queue(r: Req, *, label: str = "unlabelled", name: str = "", day: str = "") -> dict[str, Any]:
    """The alerts of the queue after the filters, and the chips' choices."""
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    every = _store(r).list(limit=SCAN)
    names = sorted({alert_name(a) for a in every})
    days = sorted({_day(a.first_ts, f) for a in every}, reverse=True)[:7]
    items = []
    for a in every:
        if label == "unlabelled" and (a.label is not None or a.state == "closed"):
            continue
        if label in ("true", "false") and a.label != label:
            continue
        if name and alert_name(a) != name:
            continue
        if day and _day(a.first_ts, f) != day:
            continue
        items.append(a)
    return {"items": items, "names": names, "days": days}


def _num(v: Any, f: fmt.Formatter) -> str:
    return labels.value_text(float(v), None, f) if isinstance(v, int | float) and math.isfinite(float(v)) else "–"


def card(r: Req, a: Any) -> dict[str, Any]:
    """One card: the alert with its evidence in words and, when the guard kept the window, its picture."""
    config, lang = r.state.config, r.lang
    f = fmt.Formatter(lang, config.box.timezone)
    full = _store(r).get(a.id)
    out = alert_dict(full, lang, config=config)
    out.update(when=f.time(a.first_ts, date=True), name=alert_name(a), score=None, inputs=[], picture=None)
    for ev in full.evidence:
        vals = ev.get("values")
        if ev["kind"] == "values" and isinstance(vals, dict) and "score" in vals:
            out["score"] = r._("Score %(score)s, threshold %(threshold)s") % {
                "score": _num(vals.get("score"), f), "threshold": _num(vals.get("threshold"), f)}
        elif ev["kind"] == "window" and vals is not None:
            sig = labels.signal_label(config, ev.get("name"), lang)
            out["inputs"].append(sig)
            if out["picture"] is None:
                data = [float(x) for x in vals]
                out["picture"] = charts.signal(data, label=r._("%(signal)s in the window the model judged") % {
                    "signal": sig}, rate_hz=ev.get("rate_hz"), w=480, h=110)
    out["trace"] = trip_trace(r, full, w=480, h=130) if out["picture"] is None else None
    return out


def _back(next_url: str) -> str:
    return next_url if next_url.startswith("/alerts/review") and not next_url.startswith("//") else "/alerts/review"


@router.get("/alerts/review", include_in_schema=False)
def review_page(label: str = "unlabelled", name: str = "", day: str = "", r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    label = label if label in LABEL_FILTERS else "unlabelled"
    q = queue(r, label=label, name=name, day=day)
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    today = dt.datetime.now(tz=f.tz).date()

    def day_text(d: str) -> str:
        when = dt.date.fromisoformat(d)
        if when == today:
            return r._("Today")
        if when == today - dt.timedelta(days=1):
            return r._("Yesterday")
        return when.strftime("%d-%m")

    def link(**change: str) -> str:
        params = {"label": label, "name": name, "day": day, **change}
        return "/alerts/review?" + urlencode({k: v for k, v in params.items() if v})

    chips = {
        "label": [(r._(text), link(label=k), k == label) for k, text in LABEL_FILTERS.items()],
        "name": [(r._("All"), link(name=""), not name)] + [(r._(fmt.KIND_LABELS[n]) if n in fmt.KIND_LABELS else n, link(name=n), n == name) for n in q["names"]],
        "day": [(r._("All days"), link(day=""), not day)] + [(day_text(d), link(day=d), d == day) for d in q["days"]],
    }
    cards = [card(r, a) for a in q["items"][:PAGE_SIZE]]
    return r.render("review.html", cards=cards, chips=chips, total=len(q["items"]), here=link(),
                    undo=bool(r.request.session.get(UNDO_KEY)))


def label_many(r: Req, ids: list[int], label: str, comment: str | None = None) -> list[Any]:
    """Label each alert (audited one by one, as on its own page); remembers the labels before for undo."""
    role = r.require("alerts")
    store = _store(r)
    before, done = [], []
    for aid in dict.fromkeys(ids):
        try:
            was = store.get(aid).label
            done.append(store.label(aid, label, role=role, comment=comment or None))
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
        before.append([aid, was])
    r.request.session[UNDO_KEY] = before
    return done


def undo_last(r: Req) -> int:
    """Give the alerts of the last labelling their labels before (none: back in the queue)."""
    role = r.require("alerts")
    store = _store(r)
    before = r.request.session.pop(UNDO_KEY, None) or []
    for aid, was in before:
        try:
            store.unlabel(int(aid), role=role, back_to=was)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
    return len(before)


@router.post("/alerts/review/label", include_in_schema=False)
def review_label_form(ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None, Form()] = None, card: Annotated[str, Form()] = "",
                      label: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/alerts/review",
                      r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    if card:  # a card's own button: "id:label"
        aid, _, label = card.partition(":")
        chosen = [int(aid)] if aid.isdigit() and 1 <= int(aid) < 2**63 else []
    else:
        chosen = list(ids or [])
    if label not in ("true", "false") or not chosen:
        r.flash(r._("Choose one or more alerts first, then true alarm or false alarm."), "bad")
        return r.redirect(_back(next))
    label_many(r, chosen, label)
    what = r._(fmt.LABEL_NAMES[label])
    r.flash(r.t.ngettext("%(n)s alert labelled: %(label)s.", "%(n)s alerts labelled: %(label)s.", len(chosen))
            % {"n": len(chosen), "label": what}, undo="/alerts/review/undo?" + urlencode({"next": _back(next)}))
    return r.redirect(_back(next))


@router.post("/alerts/review/undo", include_in_schema=False)
def review_undo_form(next: str = "/alerts/review", r: Req = ReqDep) -> Response:
    page_guard(r, "alerts")
    n = undo_last(r)
    r.flash(r._("Label undone.") if n else r._("Nothing to undo."), "ok" if n else "bad")
    return r.redirect(_back(next))


# ----- JSON API ------------------------------------------------------------------
class BulkLabelIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(..., title="Alert ids", min_length=1, max_length=500)
    label: Literal["true", "false", "unsure"] = Field(..., title="true alarm, false alarm or unsure")
    comment: str | None = Field(None, title="Comment", max_length=1000)


@router.get("/api/v1/alerts/review", tags=["alerts"])
def api_review(label: Literal["unlabelled", "true", "false", "all"] = "unlabelled", name: str = "", day: str = "",
               r: Req = ReqDep) -> list[dict[str, Any]]:
    """The review queue: alerts after the filters (label, rule or model name, local day YYYY-MM-DD), newest first."""
    api_guard(r, "alerts")
    return [{**alert_dict(a, r.lang), "name": alert_name(a)} for a in queue(r, label=label, name=name, day=day)["items"]]


@router.post("/api/v1/alerts/label", tags=["alerts"])
def api_label_many(body: BulkLabelIn, r: Req = ReqDep) -> list[dict[str, Any]]:
    """Label several alerts at once (each audited as a single label); ``/api/v1/alerts/label/undo`` undoes it."""
    api_guard(r, "alerts")
    return [alert_dict(a, r.lang) for a in label_many(r, body.ids, body.label, body.comment)]


@router.post("/api/v1/alerts/label/undo", tags=["alerts"])
def api_label_undo(r: Req = ReqDep) -> dict[str, int]:
    """Undo this session's last labelling: each alert gets its label before (or none)."""
    api_guard(r, "alerts")
    return {"undone": undo_last(r)}
