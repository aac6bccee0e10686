"""Maintenance override of a reset refused because the cause persists (``/guard/override``).

A stuck sensor that reads beyond its limit keeps a rule's cause "still there" for ever, so Home
refuses the reset. Maintenance or the admin (PIN) may reset anyway after an explicit confirm that
names the reading and the limit and says what it means, with a reason; the guard's own reset
command does the reset (audited by the guard), and the UI audits the override with who and why.
While the reading stays beyond the limit the rule stops the machine again after its hold time, so
the confirm offers to put the guard in shadow until the sensor is repaired (the default)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from .. import fmt
from ..access import page_guard
from ..context import Req, ReqDep
from .core import _guard_call, home_snapshot, tripped_again

router = APIRouter()


async def _cause(r: Req) -> dict[str, Any] | None:
    cause = (await home_snapshot(r))["guard"].get("cause")
    return cause if isinstance(cause, dict) and cause.get("override") else None


def _hold(r: Req, cause: dict[str, Any]) -> str:
    rule = next((x for x in r.state.config.guard.rules if x.name == cause.get("name")), None)
    f = fmt.Formatter(r.lang, r.state.config.box.timezone)
    return f.duration(rule.for_ms / 1000) if rule is not None and rule.for_ms >= 1000 else \
        f"{rule.for_ms if rule is not None else '–'} ms"


@router.get("/guard/override", include_in_schema=False)
async def override_page(r: Req = ReqDep) -> Response:
    page_guard(r, "guard.mode")
    cause = await _cause(r)
    if cause is None:
        r.flash(r._("The guard has no cause that needs an override now."), "ok")
        return r.redirect("/")
    return r.render("guard_override.html", cause=cause, hold=_hold(r, cause))


@router.post("/guard/reset/override", include_in_schema=False)
async def override_reset(why: Annotated[str, Form(max_length=500)] = "", confirm: Annotated[str, Form()] = "",
                         shadow: Annotated[str, Form()] = "", r: Req = ReqDep) -> Response:
    page_guard(r, "guard.mode")
    role = r.require("guard.mode")
    cause = await _cause(r)
    if cause is None:
        r.flash(r._("The guard has no cause that needs an override now."), "ok")
        return r.redirect("/")
    if confirm != "1" or not why.strip():
        r.flash(r._("Tick that you checked the machine and write why, then reset."), "bad")
        return r.redirect("/guard/override")
    if shadow == "1":
        await _guard_call(r, "guard.set_mode", mode="shadow", role=role)
    await _guard_call(r, "guard.reset", role=role, source="ui-override")
    r.audit("guard.reset_override", "guard", json.dumps({
        "cause": cause.get("text") or cause.get("name"), "then": "shadow" if shadow == "1" else "armed",
        "why": why.strip()}, ensure_ascii=False))
    if shadow != "1":
        # Armed with the reading still beyond the limit: the rule stops the machine again after its hold time.
        if await tripped_again(r) is not None:
            r.flash(r._("Reset, but the guard stopped the machine again: the reading is still beyond the limit. "
                        "Put the guard in shadow until the sensor is repaired."), "bad")
            return r.redirect("/")
        r.flash(r._("Reset by maintenance override."))
        return r.redirect("/")
    r.flash(r._("Reset by maintenance override. The guard is in shadow (alerts only, no stop) until the "
                "sensor is repaired: arm it again in Settings."))
    return r.redirect("/")
