"""Blueprint steps by business function, progress, skills cards, the workplace-innovation check."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from appliance.kpi import queries as kpi_queries
from content import benefit as content_benefit
from content import progress as content_progress
from content import schema as content_schema

from .. import fmt, services
from ..access import api_guard, found, page_guard
from ..context import Req, ReqDep
from ..i18n import N_

router = APIRouter()

STATUS_LABELS = {"not_started": N_("Not started"), "busy": N_("Busy"), "done": N_("Done")}


def _lib(r: Req) -> Any:
    try:
        return services.library(r.state.config.box.data_dir)
    except services.NotAvailable as exc:
        raise HTTPException(503, r._("The blueprint content is not installed yet.")) from exc


def _names(mapping: dict[str, dict[str, str]], key: str, lang: str) -> str:
    return mapping.get(key, {}).get(lang, key)


def _schema() -> Any:
    return content_schema


def step_view(step: Any, lang: str, progress: Any) -> dict[str, Any]:
    t = step.text(lang)
    sch = _schema()
    return {"id": step.id, "title": t.title, "summary": t.summary, "function": step.function,
            "function_name": _names(sch.FUNCTION_NAMES, step.function, lang),
            "kind": step.kind, "kind_name": _names(sch.KIND_NAMES, step.kind, lang),
            "effort": _names(sch.EFFORT_NAMES, step.effort, lang), "cost": _names(sch.COST_NAMES, step.cost, lang),
            "status": progress.status if progress else "not_started",
            "date": progress.date if progress else None, "note": progress.note if progress else ""}


@router.get("/blueprint", include_in_schema=False)
def blueprint_page(function: str | None = None, r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    sch = _schema()
    progress = content_progress.all_progress(r.db)
    by_fn = lib.steps_by_function()
    functions = [(f, _names(sch.FUNCTION_NAMES, f, r.lang), len(v), sum(1 for s in v if getattr(progress.get(s.id), "status", "") == "done"))
                 for f, v in by_fn.items() if v]
    chosen = function if function in by_fn else (functions[0][0] if functions else None)
    steps = [step_view(s, r.lang, progress.get(s.id)) for s in by_fn.get(chosen or "", [])]
    packs = [{"title": m.title.get(r.lang, m.id), "version": m.version} for m in lib.blueprints()]
    return r.render("blueprint.html", functions=functions, chosen=chosen, steps=steps, status_labels=STATUS_LABELS,
                    packs=packs)


BENEFIT_WEEKS = 4  # the box's figures for a step's benefit: the last four weeks, per week


def _box_week_figures(r: Req) -> dict[str, float]:
    """What the box measured over the last weeks, per week; empty when it has too little data."""
    import time as _time

    try:
        if not services._has_kpi_tables(r.db):
            return {}
        end = _time.time_ns()
        row = kpi_queries.kpi_total(r.db, calendar=services.calendar(r.state.config),
                              start_ns=end - BENEFIT_WEEKS * 7 * 86400 * 10**9, end_ns=end)
    except (services.NotAvailable, Exception):  # noqa: BLE001 - no figures is an honest answer here
        return {}
    observed_s = row.pot_s - row.nodata_s
    if observed_s < 8 * 3600:  # less than a working day of data: keep the rules of thumb
        return {}
    weeks = max(observed_s / row.pot_s if row.pot_s else 0.0, 1e-9) * BENEFIT_WEEKS
    per_week = {"planned_h_week": row.pbt_s / 3600, "setup_h_week": row.setup_s / 3600, "down_h_week": row.down_s / 3600,
                "short_stop_h_week": row.micro_s / 3600, "scrap_week": row.sq, "good_week": row.gq,
                "energy_kwh_week": row.energy_kwh, "failures_week": float(row.failures),
                "unattended_h_week": row.outside_shift_run_s / 3600}
    return {k: v / weeks for k, v in per_week.items()}


def _company_figures(r: Req) -> dict[str, float]:
    """The company's own figures: the KPI page's ROI inputs, then what was typed on the step page."""
    out: dict[str, float] = {}
    try:
        roi = kpi_queries.get_roi_inputs(r.db)
        if roi.value_per_hour_eur > 0:
            out["machine_hour_rate"] = roi.value_per_hour_eur
        if roi.hours_per_year > 0:
            out["hours_year"] = roi.hours_per_year
    except (services.NotAvailable, Exception):  # noqa: BLE001
        pass
    for name in content_benefit.COMPANY_INPUTS:
        raw = r.request.query_params.get(name, "").strip().replace(",", ".")
        try:
            value = float(raw)
        except ValueError:
            continue
        if 0 <= value < 1e10:
            out[name] = value
    return out


def _benefit(r: Req, step: Any) -> dict[str, Any]:
    low, high, inputs = content_benefit.benefit_range(step.benefit.formula, step.benefit.assume, _box_week_figures(r), _company_figures(r))
    rows = [{"name": i.name, "label": i.label.get(r.lang, i.name), "low": i.low, "high": i.high,
             "unit": r._(fmt.UNIT_WORDS[i.unit]) if i.unit in fmt.UNIT_WORDS else i.unit, "basis": i.basis, "basis_name": content_benefit.BASIS_NAMES[i.basis][r.lang],
             "editable": i.name in content_benefit.COMPANY_INPUTS} for i in inputs]
    return {"low": low, "high": high, "formula": step.benefit.formula, "inputs": rows,
            "none": not inputs, "rule_of_thumb": any(i["basis"] == "rule-of-thumb" for i in rows)}


@router.get("/blueprint/step/{step_id}", include_in_schema=False)
def step_page(step_id: str, r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    step = found(lambda: lib.step(step_id), r._("No such step."))
    t = step.text(r.lang)
    progress = content_progress.get_progress(r.db, step_id)
    cards = [{"id": c.id, "title": c.text(r.lang).title} for c in (lib.card(cid) for cid in step.cards)]
    prereq = [{"id": p.id, "title": p.text(r.lang).title} for p in lib.prerequisites(step_id)]
    sch = _schema()
    helpers = [_names(sch.HELP_NAMES, h, r.lang) for h in step.help]
    roles = [_names(sch.ROLE_NAMES, x, r.lang) for x in step.roles]
    return r.render("step.html", step=step_view(step, r.lang, progress), t=t, cards=cards, prereq=prereq,
                    kpi=step.kpi, status_labels=STATUS_LABELS, benefit=_benefit(r, step), helpers=helpers, roles=roles)


class ProgressIn(BaseModel):
    status: Literal["not_started", "busy", "done"] = Field(..., title="Status")
    note: str | None = Field(None, title="Note", max_length=2000)


def _set_progress(r: Req, step_id: str, body: ProgressIn) -> dict[str, Any]:
    lib = _lib(r)
    found(lambda: lib.step(step_id), r._("No such step."))
    p = content_progress.set_progress(r.db, step_id, body.status, note=body.note)
    r.audit("content.progress", step_id, body.status)
    return {"step_id": p.step_id, "status": p.status, "date": p.date, "note": p.note}


@router.post("/blueprint/step/{step_id}", include_in_schema=False)
async def step_progress_form(step_id: str, request: Request, r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    form = await request.form()
    status = str(form.get("status", ""))
    if status not in STATUS_LABELS:
        raise HTTPException(422, r._("Choose a status."))
    note = form.get("note")
    _set_progress(r, step_id, ProgressIn(status=status, note=str(note) if note is not None else None))  # type: ignore[arg-type]
    r.flash(r._("Progress saved."))
    return r.redirect(f"/blueprint/step/{step_id}")


@router.get("/api/v1/content/steps", tags=["content"])
def api_steps(function: str | None = None, lang: Literal["nl", "en"] | None = None, r: Req = ReqDep) -> list[dict[str, Any]]:
    """Blueprint steps (optionally of one business function) with their progress."""
    api_guard(r, "content")
    lib = _lib(r)
    progress = content_progress.all_progress(r.db)
    steps = found(lambda: lib.steps(function=function))
    return [step_view(s, lang or r.lang, progress.get(s.id)) for s in steps]


@router.post("/api/v1/content/steps/{step_id}/progress", tags=["content"])
def api_step_progress(step_id: str, body: ProgressIn, r: Req = ReqDep) -> dict[str, Any]:
    """Mark a step not started / busy / done, with an optional note."""
    api_guard(r, "content")
    return _set_progress(r, step_id, body)


@router.get("/api/v1/content/progress.csv", tags=["content"],
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def api_progress_csv(r: Req = ReqDep) -> Response:
    api_guard(r, "content")
    text = content_progress.export_progress_csv(r.db, _lib(r), lang=r.lang)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="werkvloer-progress.csv"'})


# ----- skills cards ------------------------------------------------------------------
@router.get("/skills", include_in_schema=False)
def skills_page(r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    sch = _schema()
    cards = [{"id": c.id, "title": c.text(r.lang).title,
              "roles": ", ".join(_names(sch.ROLE_NAMES, x, r.lang) for x in c.roles)} for c in lib.cards()]
    profiles = []
    for p in lib.profiles():
        pt = p.text(r.lang)
        pcards = []
        for cl in p.cards:
            ct = lib.card(cl.card).text(r.lang)
            pcards.append({"id": cl.card, "title": ct.title, "level": cl.level, "level_name": ct.levels[cl.level - 1].name})
        profiles.append({"role": p.role, "title": pt.title, "summary": pt.summary, "cards": pcards,
                         "steps": [{"id": s.id, "title": s.text(r.lang).title} for s in lib.steps_for_role(p.role)]})
    return r.render("skills.html", cards=cards, profiles=profiles)


@router.get("/skills/{card_id}", include_in_schema=False)
def card_page(card_id: str, r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    card = found(lambda: lib.card(card_id), r._("No such skills card."))
    steps = [{"id": s.id, "title": s.text(r.lang).title} for s in lib.steps_needing(card_id)]
    return r.render("card.html", card=card, t=card.text(r.lang), steps=steps)


# ----- workplace-innovation check ----------------------------------------------------------
def _result(r: Req, lib: Any, run_id: int) -> list[dict[str, Any]]:
    sch = _schema()
    pm = content_progress
    res = pm.check_result(r.db, run_id, lib.statements())
    out = []
    for d, dr in res.items():
        advice = []
        if dr.score is not None:
            for a in lib.advice(domain=d, score=dr.score):
                at = a.text(r.lang)
                pack = lib.packs[a.pack].manifest
                title = at.title if pack.kind != "blueprint" else f"{at.title} ({pack.title.get(r.lang, pack.id)})"
                advice.append({"title": title, "advice": at.advice,
                               "steps": [{"id": s, "title": lib.step(s).text(r.lang).title} for s in a.steps if s in {x.id for x in lib.steps()}],
                               "cards": [{"id": c, "title": lib.card(c).text(r.lang).title} for c in a.cards]})
        out.append({"domain": d, "name": _names(sch.DOMAIN_NAMES, d, r.lang), "score": dr.score,
                    "band": dr.band, "answered": dr.answered, "total": dr.total, "advice": advice})
    return out


@router.get("/check", include_in_schema=False)
def check_page(r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    sch = _schema()
    pm = content_progress
    run_id = pm.latest_run(r.db)
    statements = [{"id": s.id, "text": s.text(r.lang).statement, "hint": s.text(r.lang).hint,
                   "domain": _names(sch.DOMAIN_NAMES, s.domain, r.lang)} for s in lib.statements()]
    result = _result(r, lib, run_id) if run_id is not None else None
    return r.render("check.html", statements=statements, result=result)


@router.post("/check", include_in_schema=False)
async def check_submit(request: Request, r: Req = ReqDep) -> Response:
    page_guard(r, "content")
    lib = _lib(r)
    form = await request.form()
    ids = [s.id for s in lib.statements()]
    answers = {}
    for sid in ids:
        v = form.get(sid)
        if v and str(v).isdigit():
            answers[sid] = int(str(v))
    if not answers:
        raise HTTPException(422, r._("Answer at least one statement."))
    share = form.get("share") == "1"
    try:
        run_id = content_progress.save_check(r.db, answers, statement_ids=ids, share_scores=share)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    r.audit("content.check", f"run {run_id}", json.dumps({"answers": len(answers), "shared": share}))
    r.flash(r._("Check saved. Your result is below."))
    return r.redirect("/check#result")
